#ifndef SQUEEZE_CSQLITE_SHIM_H
#define SQUEEZE_CSQLITE_SHIM_H
#include <sqlite3.h>
// SQLITE_TRANSIENT / SQLITE_STATIC are casts Swift cannot import.
static inline sqlite3_destructor_type squeeze_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type squeeze_sqlite_static(void) { return SQLITE_STATIC; }
#endif
