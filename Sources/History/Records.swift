import Foundation

/// What `squeeze` knows about a run when it starts.
public struct RunStart: Sendable {
    public enum Kind: String, Sendable { case script, repl, replay, notebook }
    public var kind: Kind
    public var recipe: String?
    public var source: String
    public var seed: UInt64
    public var environment: RunEnvironment
    public var outDirectory: String?
    public var replayOf: Int?
    /// The sweep (its name) and point (`bits=2,group=64`) this run is one of.
    public var sweep: String?
    public var sweepPoint: String?

    public init(
        kind: Kind, recipe: String?, source: String, seed: UInt64, environment: RunEnvironment,
        outDirectory: String? = nil, replayOf: Int? = nil, sweep: String? = nil, sweepPoint: String? = nil
    ) {
        self.sweep = sweep
        self.sweepPoint = sweepPoint
        self.kind = kind
        self.recipe = recipe
        self.source = source
        self.seed = seed
        self.environment = environment
        self.outDirectory = outDirectory
        self.replayOf = replayOf
    }
}

/// How a run ended.
public enum RunStatus: String, Sendable, CaseIterable {
    case running, completed, failed, interrupted, crashed
}

/// A recorded parameter: its value and default as recipe literals.
public struct ParameterRecord: Sendable, Equatable {
    public let name: String
    public let value: String
    public let defaultValue: String
    public let overridden: Bool

    package init(name: String, value: String, defaultValue: String, overridden: Bool) {
        self.name = name
        self.value = value
        self.defaultValue = defaultValue
        self.overridden = overridden
    }
}

/// One `log(name: value, step:)` (or a value an operation reported).
public struct MetricRecord: Sendable {
    public let seq: Int
    public let statement: Int?
    public let name: String
    public let value: Double
    public let step: Int?

    package init(seq: Int, statement: Int?, name: String, value: Double, step: Int?) {
        self.seq = seq
        self.statement = statement
        self.name = name
        self.value = value
        self.step = step
    }
}

/// A file the run wrote.
public struct ArtifactRecord: Sendable {
    public let statement: Int?
    public let path: String
    public let kind: String
    public let bytes: Int
    public let sha256: String
    /// Whether the history's artifact store was given a copy (false: over the size limit, or
    /// recorded before the store existed).
    public let stored: Bool
    /// The stored copy's path, when it was stored (set when read back; the file may since be gone).
    public var copy: String?

    package init(statement: Int?, path: String, kind: String, bytes: Int, sha256: String, stored: Bool = false, copy: String? = nil) {
        self.statement = statement
        self.path = path
        self.kind = kind
        self.bytes = bytes
        self.sha256 = sha256
        self.stored = stored
        self.copy = copy
    }
}

/// One top-level statement as it ran.
public struct StatementRecord: Sendable {
    public let index: Int
    public let cell: Int
    public let line: Int
    public let column: Int
    public let endLine: Int
    public let endColumn: Int
    public let text: String
    public let seconds: Double
    public let status: String
    public let error: String?
    public let output: String
    /// The value the statement displayed (a REPL's bare expression), if any.
    public let result: String?

    package init(
        index: Int, cell: Int, line: Int, column: Int, endLine: Int, endColumn: Int, text: String, seconds: Double, status: String,
        error: String?, output: String, result: String? = nil
    ) {
        self.index = index
        self.cell = cell
        self.line = line
        self.column = column
        self.endLine = endLine
        self.endColumn = endColumn
        self.text = text
        self.seconds = seconds
        self.status = status
        self.error = error
        self.output = output
        self.result = result
    }
}

/// A run as stored: its row and, when loaded in full, everything recorded under it.
public struct RunRecord: Sendable {
    public let id: Int
    public let kind: String
    public let recipe: String?
    /// The run's source; a REPL session's while it runs is assembled from its cells.
    public internal(set) var source: String
    public internal(set) var sourceSHA256: String
    public let seed: UInt64?
    public let started: Date
    public let finished: Date?
    public let status: RunStatus
    public let error: String?
    public let environment: RunEnvironment
    public let outDirectory: String?
    public let replayOf: Int?
    /// Globally unique (kept when a sweep's shards are collected into another history).
    public var uuid: String?
    public var sweep: String?
    public var sweepPoint: String?
    public var parameters: [ParameterRecord] = []
    public var metrics: [MetricRecord] = []
    public var artifacts: [ArtifactRecord] = []
    public var statements: [StatementRecord] = []
    public var notes: [String] = []

    public var duration: Double? { finished.map { $0.timeIntervalSince(started) } }

    /// The last value logged under each metric name, in first-logged order.
    public var lastMetrics: [(name: String, value: Double)] {
        var order: [String] = []
        var last: [String: Double] = [:]
        for m in metrics {
            if last[m.name] == nil { order.append(m.name) }
            last[m.name] = m.value
        }
        return order.map { ($0, last[$0] ?? .nan) }
    }

    /// The recipe's file name, or the kind for a REPL session.
    public var recipeName: String {
        recipe.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "<\(kind)>"
    }

    public func parameter(_ name: String) -> ParameterRecord? { parameters.first { $0.name == name } }
}

/// What a run ran on.
public struct RunEnvironment: Sendable, Equatable {
    public var squeezeVersion: String
    public var gitCommit: String?
    public var gitDirty: Bool?
    public var blas: String?
    public var blasThreads: Int?
    public var cores: Int?
    public var host: String?
    public var cpu: String?
    public var os: String?

    public init(
        squeezeVersion: String, gitCommit: String? = nil, gitDirty: Bool? = nil, blas: String? = nil,
        blasThreads: Int? = nil, cores: Int? = nil, host: String? = nil, cpu: String? = nil, os: String? = nil
    ) {
        self.squeezeVersion = squeezeVersion
        self.gitCommit = gitCommit
        self.gitDirty = gitDirty
        self.blas = blas
        self.blasThreads = blasThreads
        self.cores = cores
        self.host = host
        self.cpu = cpu
        self.os = os
    }

    /// Label/value pairs for display and comparison.
    public var fields: [(String, String)] {
        [
            ("squeeze", squeezeVersion),
            ("git commit", gitCommit.map { $0 + (gitDirty == true ? " (dirty)" : "") } ?? "-"),
            ("BLAS", blas ?? "-"),
            ("BLAS threads", blasThreads.map(String.init) ?? "-"),
            ("cores", cores.map(String.init) ?? "-"),
            ("host", host ?? "-"),
            ("CPU", cpu ?? "-"),
            ("OS", os ?? "-"),
        ]
    }
}
