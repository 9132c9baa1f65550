# control/sts: MTA-STS policy fetches over HTTPS with libcurl's multi interface.
PKG_LIBS += $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
