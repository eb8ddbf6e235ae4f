// The one EventSource on the hive's /events. While a stream drops and comes
// back, EventSource resumes by itself with Last-Event-ID; when a reconnect is
// answered with an error (the hive behind the proxy restarting: 502/503),
// EventSource gives up for good, so a new one is opened after a pause and told
// where to resume with ?last_event_id= (the hive reads it like the header).

import { API } from "./api.js";

export const EVENT_TYPES = ["job_status", "new_record", "asset_update", "node_status", "fleet_freeze", "resync"];
const REOPEN_MS = 3000;

export function follow({ onEvent, onOpen, onDown }) {
  let lastId = null;
  let source = null;

  function open() {
    const query = lastId ? `?last_event_id=${encodeURIComponent(lastId)}` : "";
    source = new EventSource(`${API}/events${query}`);
    source.addEventListener("open", () => onOpen());
    source.addEventListener("error", () => {
      onDown(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(open, REOPEN_MS);
      }
    });
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        if (message.lastEventId) lastId = message.lastEventId;
        let data = null;
        try {
          data = message.data ? JSON.parse(message.data) : null;
        } catch {
          data = message.data;
        }
        onEvent(type, data, message.lastEventId);
      });
    }
  }

  open();
}
