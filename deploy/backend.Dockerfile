# Data Stream backend: nginx + nchan + ngx_http_datastream_module + dashboard.
# Build from the repository root:
#   podman build -f deploy/backend.Dockerfile -t datastream/backend .
# (deploy/build-images.sh builds and smoke-tests both images.)
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config nginx-dev libhiredis-dev libjansson-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY contract/ contract/
COPY ngx_datastream_module/ ngx_datastream_module/
RUN ngx_datastream_module/build.sh /out \
 && rm -rf /out/configure \
 # Runtime packages = the packages owning the libraries the module links.
 && ldd /out/ngx_http_datastream_module.so | awk '/=> \//{print $3}' \
    | xargs -r realpath | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | sort -u \
    | grep -v -E '^(libc6|libgcc-s1)$' > /out/runtime-packages \
 && cat /out/runtime-packages

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx-light libnginx-mod-nchan gettext-base ca-certificates $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages /etc/nginx/sites-enabled/* \
 && groupadd --system --gid 10001 datastream \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin datastream \
 && install -d -o 10001 -g 10001 /run/datastream \
 # nginx creates its compiled-in temp dirs at start even when the config moves
 # them; present in the image, they need no writable root filesystem.
 && install -d -o 10001 -g 10001 /var/lib/nginx/body /var/lib/nginx/proxy \
        /var/lib/nginx/fastcgi /var/lib/nginx/uwsgi /var/lib/nginx/scgi

COPY --from=build /out/ngx_http_datastream_module.so /usr/lib/nginx/modules/ngx_http_datastream_module.so
COPY conf/nginx/ /etc/datastream/nginx/
COPY html/ /usr/share/datastream/html/
COPY deploy/backend-entrypoint.sh /usr/local/bin/datastream-backend-entrypoint

# Read by conf/nginx/render.sh; the run dir is the only writable path
# (an emptyDir in Kubernetes: the root filesystem is read-only).
ENV DS_NGINX_CONF_DIR=/etc/datastream/nginx \
    DS_NGINX_RUN_DIR=/run/datastream \
    DS_HTML_ROOT=/usr/share/datastream/html \
    DS_DATASTREAM_MODULE=/usr/lib/nginx/modules/ngx_http_datastream_module.so \
    DS_NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so \
    DS_HTTP_PORT=3000 \
    DS_PUBLISH_PORT=3001

USER 10001:10001
EXPOSE 3000
# nginx: SIGQUIT = graceful shutdown (SIGTERM would be a fast one).
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/datastream-backend-entrypoint"]
