import Foundation

/// Where a recipe may read and write. A recipe reads relative paths against its own directory and
/// writes only under its output directory (and any `--allow-write` directories); it can never write
/// into a `.squeeze/` folder (the history), through a symbolic link that leaves those directories,
/// or anywhere else. Reads go anywhere except the history (any `.squeeze/` folder and the database
/// files it was given, through links too) and non-regular files (devices, FIFOs, directories), which
/// could block or never end. It cannot run programs or load code: no operation does either.
public struct Sandbox: Sendable {
    /// Relative read paths resolve here (the recipe's directory).
    public let baseDirectory: URL
    /// Relative write paths resolve here (`--out`, default the recipe's directory).
    public let outputDirectory: URL
    /// Extra directories writes may go to (`--allow-write`).
    public let allowedWriteDirectories: [URL]
    /// Files neither read nor written (the history database; its -wal, -shm and -journal too).
    public let protectedFiles: [URL]

    public init(baseDirectory: URL, outputDirectory: URL? = nil, allowedWriteDirectories: [URL] = [], protectedFiles: [URL] = []) {
        self.baseDirectory = baseDirectory.standardizedFileURL
        self.outputDirectory = (outputDirectory ?? baseDirectory).standardizedFileURL
        self.allowedWriteDirectories = allowedWriteDirectories.map(\.standardizedFileURL)
        self.protectedFiles = protectedFiles.map { Sandbox.realPath($0.standardizedFileURL) }
    }

    public enum Refusal: Error, CustomStringConvertible {
        case outside(path: String, allowed: [String])
        case history(path: String)
        case empty
        case parent(path: String)
        case historyRead(path: String)
        case control(path: String)
        case notRegular(path: String, kind: String)

        public var description: String {
            switch self {
            case let .outside(path, allowed):
                return
                    "writing '\(path)' is not allowed: recipes write only under \(allowed.map { "'\($0)'" }.joined(separator: " or ")) " +
                    "(use --out or --allow-write)"
            case .history(let path):
                return "writing '\(path)' is not allowed: the history folder .squeeze/ is off limits to recipes"
            case .empty:
                return "the path is empty"
            case .parent(let path):
                return "writing '\(path)' is not allowed: output paths may not contain '..'"
            case .control(let path):
                return "the path \(path.debugDescription) contains a control character (NUL, newline, …); file names may not"
            case .historyRead(let path):
                return "reading '\(path)' is not allowed: the history database is off limits to recipes"
            case let .notRegular(path, kind):
                return "cannot read '\(path)': it is \(kind), not a regular file"
            }
        }
    }

    /// The absolute path to read for `path`: relative paths resolve against the recipe's directory,
    /// or, when nothing is there, the output directory (so a recipe can read back what it wrote).
    /// Refuses the history and anything that is not a regular file (a missing file is returned as
    /// is, for the caller to report).
    public func resolveRead(_ path: String) throws -> URL {
        try Sandbox.checkCharacters(path)
        var url: URL
        if path.hasPrefix("/") {
            url = URL(fileURLWithPath: path).standardizedFileURL
        } else {
            url = baseDirectory.appendingPathComponent(path).standardizedFileURL
            let inOut = outputDirectory.appendingPathComponent(path).standardizedFileURL
            if !FileManager.default.fileExists(atPath: url.path) && FileManager.default.fileExists(atPath: inOut.path) { url = inOut }
        }
        let real = Sandbox.realPath(url)
        if isHistory(real) { throw Refusal.historyRead(path: path) }
        var st = stat()
        if stat(real.path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: throw Refusal.notRegular(path: path, kind: "a directory")
            case S_IFIFO: throw Refusal.notRegular(path: path, kind: "a FIFO")
            case S_IFCHR, S_IFBLK: throw Refusal.notRegular(path: path, kind: "a device")
            case S_IFSOCK: throw Refusal.notRegular(path: path, kind: "a socket")
            default: throw Refusal.notRegular(path: path, kind: "not a file")
            }
        }
        return url
    }

    static func checkCharacters(_ path: String) throws {
        guard !path.isEmpty else { throw Refusal.empty }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { throw Refusal.control(path: path) }
    }

    /// Inside a `.squeeze/` folder, one of the protected files (or its SQLite companions), or the
    /// artifact store beside a protected history.
    func isHistory(_ real: URL) -> Bool {
        if real.pathComponents.contains(".squeeze") { return true }
        let p = real.path
        return protectedFiles.contains { f in
            p == f.path || ["-wal", "-shm", "-journal"].contains { p == f.path + $0 }
                || Sandbox.isInside(real, f.deletingLastPathComponent().appendingPathComponent("artifacts"))
        }
    }

    /// The absolute path to write for `path`, or a refusal. Symbolic links in the existing part of
    /// the path are resolved before the check, so a link cannot smuggle a write outside.
    public func resolveWrite(_ path: String) throws -> URL {
        try Sandbox.checkCharacters(path)
        if path.split(separator: "/").contains("..") { throw Refusal.parent(path: path) }
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : outputDirectory.appendingPathComponent(path)
        let real = Sandbox.realPath(url.standardizedFileURL)
        let roots = ([outputDirectory] + allowedWriteDirectories).map { Sandbox.realPath($0) }
        guard roots.contains(where: { Sandbox.isInside(real, $0) }) else {
            throw Refusal.outside(path: path, allowed: ([outputDirectory] + allowedWriteDirectories).map(\.path))
        }
        if isHistory(real) { throw Refusal.history(path: path) }
        return real
    }

    static func isInside(_ path: URL, _ root: URL) -> Bool {
        let p = path.pathComponents, r = root.pathComponents
        return p.count > r.count && Array(p.prefix(r.count)) == r
    }

    /// Resolves symbolic links in the longest existing prefix of `url`. A dangling link is replaced
    /// by its destination and the walk repeated, so writing through one is checked where it lands.
    static func realPath(_ url: URL) -> URL {
        let fm = FileManager.default
        var path = url.standardizedFileURL
        for _ in 0..<40 {  // bounds link chains and loops
            var existing = path
            var tail: [String] = []
            while existing.path != "/" && (try? fm.attributesOfItem(atPath: existing.path)) == nil {
                tail.insert(existing.lastPathComponent, at: 0)
                existing = existing.deletingLastPathComponent()
            }
            let attrs = try? fm.attributesOfItem(atPath: existing.path)
            if (attrs?[.type] as? FileAttributeType) == .typeSymbolicLink && !fm.fileExists(atPath: existing.path) {
                guard let dest = try? fm.destinationOfSymbolicLink(atPath: existing.path) else { break }
                let base =
                    dest.hasPrefix("/")
                    ? URL(fileURLWithPath: dest)
                    : existing.deletingLastPathComponent().appendingPathComponent(dest)
                path = tail.reduce(base) { $0.appendingPathComponent($1) }.standardizedFileURL
                continue
            }
            var resolved = existing
            if let r = realpath(existing.path, nil) {
                resolved = URL(fileURLWithPath: String(cString: r))
                free(r)
            }
            for t in tail { resolved.appendPathComponent(t) }
            return resolved.standardizedFileURL
        }
        return path
    }
}
