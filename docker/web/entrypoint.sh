#!/bin/sh
# The web container's entrypoint: write the hive balancer members from
# KEYFORGE_HIVE_UPSTREAMS (space-separated URLs), then run httpd in the
# foreground as PID 1's only child. Arguments go to httpd (`-t` checks the
# configuration and exits).
set -eu
: "${KEYFORGE_HIVE_UPSTREAMS:?space-separated hive URLs, e.g. http://hive-1:3000 http://hive-2:3000}"
members="$KEYFORGE_APACHE_RUN_DIR/hive-members.conf"
: > "$members"
index=0
for url in $KEYFORGE_HIVE_UPSTREAMS; do
    case "$url" in
        http://*) ;;
        *) echo "keyforge-web: not an http:// URL in KEYFORGE_HIVE_UPSTREAMS: $url" >&2; exit 2 ;;
    esac
    # The options are defined once, in vhosts.conf; httpd expands them.
    printf 'BalancerMember %s route=hive-%d ${KEYFORGE_HIVE_MEMBER_OPTIONS}\n' "$url" "$index" >> "$members"
    index=$((index + 1))
done
export KEYFORGE_APACHE_HIVE_MEMBERS="$members"
exec "${KEYFORGE_HTTPD:-httpd}" -d "$KEYFORGE_APACHE_RUN_DIR" \
    -f "$KEYFORGE_APACHE_CONF_DIR/httpd.conf" -DFOREGROUND "$@"
