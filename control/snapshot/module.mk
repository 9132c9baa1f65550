# control/: liburcu's lock-free hash table (DNS cache) lives in liburcu-cds; AUTH password
# hashes are checked with crypt(3) from libxcrypt.
PKG_LIBS += $(shell pkg-config --libs liburcu-cds 2>/dev/null) -lcrypt
