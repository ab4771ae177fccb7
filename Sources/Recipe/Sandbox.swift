import Foundation

/// Where a recipe may read and write. A recipe reads relative paths against its own directory and
/// writes only under its output directory (and any `--allow-write` directories); it can never write
/// into a `.squeeze/` folder (the history), through a symbolic link that leaves those directories,
/// or anywhere else. It cannot run programs or load code: no operation does either.
public struct Sandbox: Sendable {
    /// Relative read paths resolve here (the recipe's directory).
    public let baseDirectory: URL
    /// Relative write paths resolve here (`--out`, default the recipe's directory).
    public let outputDirectory: URL
    /// Extra directories writes may go to (`--allow-write`).
    public let allowedWriteDirectories: [URL]

    public init(baseDirectory: URL, outputDirectory: URL? = nil, allowedWriteDirectories: [URL] = []) {
        self.baseDirectory = baseDirectory.standardizedFileURL
        self.outputDirectory = (outputDirectory ?? baseDirectory).standardizedFileURL
        self.allowedWriteDirectories = allowedWriteDirectories.map(\.standardizedFileURL)
    }

    public enum Refusal: Error, CustomStringConvertible {
        case outside(path: String, allowed: [String])
        case history(path: String)
        case empty
        case parent(path: String)

        public var description: String {
            switch self {
            case let .outside(path, allowed):
                return "writing '\(path)' is not allowed: recipes write only under \(allowed.map { "'\($0)'" }.joined(separator: " or ")) (use --out or --allow-write)"
            case .history(let path):
                return "writing '\(path)' is not allowed: the history folder .squeeze/ is off limits to recipes"
            case .empty:
                return "the path is empty"
            case .parent(let path):
                return "writing '\(path)' is not allowed: output paths may not contain '..'"
            }
        }
    }

    /// The absolute path to read for `path`: relative paths resolve against the recipe's directory,
    /// or, when nothing is there, the output directory (so a recipe can read back what it wrote).
    public func resolveRead(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
        let inBase = baseDirectory.appendingPathComponent(path).standardizedFileURL
        let inOut = outputDirectory.appendingPathComponent(path).standardizedFileURL
        if !FileManager.default.fileExists(atPath: inBase.path) && FileManager.default.fileExists(atPath: inOut.path) { return inOut }
        return inBase
    }

    /// The absolute path to write for `path`, or a refusal. Symbolic links in the existing part of
    /// the path are resolved before the check, so a link cannot smuggle a write outside.
    public func resolveWrite(_ path: String) throws -> URL {
        guard !path.isEmpty else { throw Refusal.empty }
        if path.split(separator: "/").contains("..") { throw Refusal.parent(path: path) }
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : outputDirectory.appendingPathComponent(path)
        let real = Sandbox.realPath(url.standardizedFileURL)
        let roots = ([outputDirectory] + allowedWriteDirectories).map { Sandbox.realPath($0) }
        guard roots.contains(where: { Sandbox.isInside(real, $0) }) else {
            throw Refusal.outside(path: path, allowed: ([outputDirectory] + allowedWriteDirectories).map(\.path))
        }
        if real.pathComponents.contains(".squeeze") { throw Refusal.history(path: path) }
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
        for _ in 0..<40 {   // bounds link chains and loops
            var existing = path
            var tail: [String] = []
            while existing.path != "/" && (try? fm.attributesOfItem(atPath: existing.path)) == nil {
                tail.insert(existing.lastPathComponent, at: 0)
                existing = existing.deletingLastPathComponent()
            }
            let attrs = try? fm.attributesOfItem(atPath: existing.path)
            if (attrs?[.type] as? FileAttributeType) == .typeSymbolicLink && !fm.fileExists(atPath: existing.path) {
                guard let dest = try? fm.destinationOfSymbolicLink(atPath: existing.path) else { break }
                let base = dest.hasPrefix("/") ? URL(fileURLWithPath: dest)
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
