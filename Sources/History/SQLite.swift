import CSQLite
import Foundation

/// An SQLite failure, with the library's message and the statement that caused it.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        sql.map { "\(message) (in: \($0.prefix(80)))" } ?? message
    }

    /// The file is not a database, or its pages are damaged.
    public var isCorruption: Bool {
        let primary = code & 0xff
        return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB
    }
}

/// One connection to an SQLite file: the thin layer over the C API that the history needs
/// (prepared statements, typed binds and columns, transactions), nothing more.
final class Database {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]
    /// Statements written as literals, cached by the literal's address (no hashing of the text).
    private var literals: [UnsafeRawPointer: Statement] = [:]

    init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        cache.removeAll()
        literals.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, sql) }
    }

    /// A prepared statement, cached by its text and reset for reuse.
    func prepare(_ sql: String) throws -> Statement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        let s = try Statement(self, sql)
        cache[sql] = s
        return s
    }

    /// A prepared statement for a string literal: the hot path of recording.
    func prepare(_ sql: StaticString) throws -> Statement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let s = literals[key] {
            s.reset()
            return s
        }
        let s = try Statement(self, sql.description)
        literals[key] = s
        return s
    }

    /// Runs a literal statement with `values` bound in order.
    func write(_ sql: StaticString, _ values: [SQLValue]) throws {
        let s = try prepare(sql)
        try s.bind(values)
        while try s.step() {}
    }

    /// Runs `sql` with `values` bound in order.
    func run(_ sql: String, _ values: [SQLValue] = []) throws {
        let s = try prepare(sql)
        try s.bind(values)
        while try s.step() {}
    }

    /// All rows of a query.
    func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
        let s = try prepare(sql)
        try s.bind(values)
        var out: [Row] = []
        while try s.step() { out.append(s.row()) }
        return out
    }

    var lastInsertID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` in one `BEGIN IMMEDIATE … COMMIT` (rolled back if it throws). Immediate takes the
    /// write lock up front, so two writers wait on the busy timeout instead of deadlocking.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A bindable or read value.
enum SQLValue: Equatable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)

    init(_ s: String?) { self = s.map { .text($0) } ?? .null }
    init(_ i: Int?) { self = i.map { .int(Int64($0)) } ?? .null }
    init(_ d: Double?) { self = d.map { .real($0) } ?? .null }

    var string: String? {
        switch self {
        case .text(let s): return s
        case .int(let i): return String(i)
        case .real(let d): return String(d)
        case .null: return nil
        }
    }
    var int: Int? {
        switch self {
        case .int(let i): return Int(i)
        case .real(let d): return Int(exactly: d)
        case .text(let s): return Int(s)
        case .null: return nil
        }
    }
    var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .real(let d): return d
        case .text(let s): return Double(s)
        case .null: return nil
        }
    }
}

/// A result row, read by column index.
struct Row {
    let values: [SQLValue]
    subscript(_ i: Int) -> SQLValue { i < values.count ? values[i] : .null }
}

final class Statement {
    let pointer: OpaquePointer
    unowned let db: Database
    let sql: String

    init(_ db: Database, _ sql: String) throws {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v3(db.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
        guard rc == SQLITE_OK, let s else { throw db.error(rc, sql) }
        pointer = s
        self.db = db
        self.sql = sql
    }

    deinit { sqlite3_finalize(pointer) }

    func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    func bind(_ values: [SQLValue]) throws {
        for (i, v) in values.enumerated() {
            let k = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(pointer, k)
            case .int(let x): rc = sqlite3_bind_int64(pointer, k, x)
            case .real(let x): rc = sqlite3_bind_double(pointer, k, x)
            case .text(let s):
                var s = s
                rc = s.withUTF8 { b -> Int32 in
                    guard let base = b.baseAddress, b.count > 0 else {
                        return sqlite3_bind_text(pointer, k, "", 0, squeeze_sqlite_static())
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: b.count) {
                        sqlite3_bind_text(pointer, k, $0, Int32(b.count), squeeze_sqlite_transient())
                    }
                }
            }
            if rc != SQLITE_OK { throw db.error(rc, sql) }
        }
    }

    /// Advances; true while there is a row to read.
    func step() throws -> Bool {
        let rc = sqlite3_step(pointer)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw db.error(rc, sql)
    }

    func row() -> Row {
        let n = sqlite3_column_count(pointer)
        var out: [SQLValue] = []
        out.reserveCapacity(Int(n))
        for i in 0..<n {
            switch sqlite3_column_type(pointer, i) {
            case SQLITE_INTEGER: out.append(.int(sqlite3_column_int64(pointer, i)))
            case SQLITE_FLOAT: out.append(.real(sqlite3_column_double(pointer, i)))
            case SQLITE_NULL: out.append(.null)
            default:
                if let c = sqlite3_column_text(pointer, i) {
                    out.append(.text(String(cString: c)))
                } else {
                    out.append(.null)
                }
            }
        }
        return Row(values: out)
    }
}
