# syntax=docker/dockerfile:1
# The `web` container: Apache httpd with the fleet's ingress configuration
# (infra/apache, the same files `keyforge up` runs) and the static front end.
#
#   docker build -f docker/web.Dockerfile .
#
# httpd runs as www-data from the start, so it listens on 8080/8443 and the
# compose file publishes them as 80/443. Certificates are mounted, never baked.
FROM httpd:2.4-alpine
COPY infra/apache/ /usr/local/apache2/keyforge/
COPY infra/web/ /usr/local/apache2/keyforge-web/
COPY --chmod=0755 docker/web/entrypoint.sh /usr/local/bin/keyforge-web
RUN mkdir -p /usr/local/apache2/run \
    && chown www-data:www-data /usr/local/apache2/run
ENV KEYFORGE_DOMAIN=keyforge.localhost \
    KEYFORGE_APACHE_MODULES=/usr/local/apache2/modules \
    KEYFORGE_APACHE_CONF_DIR=/usr/local/apache2/keyforge \
    KEYFORGE_APACHE_RUN_DIR=/usr/local/apache2/run \
    KEYFORGE_APACHE_USER=www-data \
    KEYFORGE_APACHE_GROUP=www-data \
    KEYFORGE_APACHE_LISTEN=0.0.0.0 \
    KEYFORGE_APACHE_HTTP_PORT=8080 \
    KEYFORGE_APACHE_HTTPS_PORT=8443 \
    KEYFORGE_PUBLIC_HTTPS_PORT=443 \
    KEYFORGE_APACHE_ERROR_LOG=/proc/self/fd/2 \
    KEYFORGE_APACHE_ACCESS_LOG=/proc/self/fd/1 \
    KEYFORGE_WEB_ROOT=/usr/local/apache2/keyforge-web \
    KEYFORGE_TLS_CERT_FILE=/etc/keyforge/tls/fullchain.pem \
    KEYFORGE_TLS_KEY_FILE=/etc/keyforge/tls/privkey.pem \
    KEYFORGE_HIVE_UPSTREAMS="http://hive-1:3000 http://hive-2:3000" \
    KEYFORGE_ASSETS_UPSTREAM=http://assets:3001
USER www-data
EXPOSE 8080 8443
STOPSIGNAL SIGWINCH
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/.well-known/keyforge-livez"]
ENTRYPOINT ["/usr/local/bin/keyforge-web"]
