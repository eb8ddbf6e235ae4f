#!/bin/sh
# Valkey for compose: render the fleet's ACL users (infra/valkey/users.acl.template)
# with the SHA-256 of each password from the environment, so no password is
# ever written in clear, then run valkey-server with the fleet's valkey.conf.
# Runs as the image's unprivileged `valkey` user; /data is its scratch space
# (persistence is off: see infra/valkey/valkey.conf).
set -eu
conf="${VALKEY_CONF_DIR:-/keyforge/valkey}"
data="${VALKEY_DATA_DIR:-/data}"
acl="$data/users.acl"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
prefix="${KEYFORGE_VALKEY_PREFIX:-kf:}"
case "$prefix" in
    *[!A-Za-z0-9:_.-]*) echo "valkey: KEYFORGE_VALKEY_PREFIX may hold A-Z a-z 0-9 : _ . - only" >&2; exit 2 ;;
esac
admin=$(sha "${VALKEY_ADMIN_PASSWORD:?}")
hive=$(sha "${VALKEY_HIVE_PASSWORD:?}")
assets=$(sha "${VALKEY_ASSETS_PASSWORD:?}")
assetmgr=$(sha "${VALKEY_ASSETMGR_PASSWORD:?}")
umask 077
# Valkey ACL files allow no comments: they are dropped with the blank lines.
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$conf/users.acl.template" \
    | sed -e "s|\${PREFIX}|$prefix|g" \
          -e "s|\${ADMIN_SHA256}|$admin|g" \
          -e "s|\${HIVE_SHA256}|$hive|g" \
          -e "s|\${ASSETS_SHA256}|$assets|g" \
          -e "s|\${ASSETMGR_SHA256}|$assetmgr|g" \
    > "$acl"
# Further arguments (a port, a bind address) go to valkey-server after ours.
exec "${VALKEY_SERVER:-valkey-server}" "$conf/valkey.conf" \
    --bind 0.0.0.0 --port 6379 --dir "$data" --aclfile "$acl" "$@"
