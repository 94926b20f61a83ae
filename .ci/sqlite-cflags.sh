# Sourced by .ci/build.sh and .ci/test.sh: the compile-time options of the
# SQLite that go-sqlite3 builds, so that CI tests the SQLite that ships.
#   HAVE_FDATASYNC         commits sync with fdatasync(2), as the pure-Go
#                          driver's and Linux distributions' builds do
#                          (go-sqlite3 alone falls back to fsync(2)).
#   SQLITE_DISABLE_DIRSYNC SQLite does not fsync the directory of every WAL
#                          it opens, in every process, in sequence with its
#                          commit; the store makes the WAL's name durable
#                          itself, once per open and off the critical path
#                          (certstore/walname.go, README "Performance").
SCCA_SQLITE_CFLAGS="-DHAVE_FDATASYNC=1 -DSQLITE_DISABLE_DIRSYNC"
