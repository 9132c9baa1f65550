# SPDX-License-Identifier: MIT
# dataplane/spool: the test driver injects write/fsync failures through libfiu (fiu-run).
$(BUILD)/tests/tools/spool_driver: PKG_LIBS += -lfiu
