import Foundation
import SqueezeCore

extension RunEnvironment {
    /// The machine, BLAS and (when the recipe lives in a git work tree) the commit the run ran on.
    public static func current(squeezeVersion: String, recipeDirectory: URL?) -> RunEnvironment {
        var env = RunEnvironment(squeezeVersion: squeezeVersion)
        env.blas = BLAS.config
        env.blasThreads = BLAS.threads
        env.cores = Parallel.cores
        env.host = hostName
        env.cpu = cpuModel()
        env.os = operatingSystem()
        if let dir = recipeDirectory, let root = gitRoot(dir) {
            env.gitCommit = git(["-C", root.path, "rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines)
            if env.gitCommit != nil, let status = git(["-C", root.path, "status", "--porcelain", "--untracked-files=no"]) {
                env.gitDirty = !status.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
        }
        return env
    }

    /// gethostname(2): the machine's name without a resolver lookup.
    public static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// PRETTY_NAME from /etc/os-release and the kernel release.
    static func operatingSystem() -> String {
        var name = "Linux"
        if let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                name = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(name), kernel \(release)"
    }

    static func cpuModel() -> String? {
        // The first processor's block is enough (the file grows with the core count).
        guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo"),
            let data = try? handle.read(upToCount: 8192)
        else { return nil }
        try? handle.close()
        let info = String(decoding: data, as: UTF8.self)
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The nearest enclosing directory with a `.git` entry (no process is started when there is none).
    static func gitRoot(_ start: URL) -> URL? {
        var dir = start.standardizedFileURL
        for _ in 0..<64 {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) { return dir }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return nil }
            dir = parent
        }
        return nil
    }

    /// Runs git; nil when git is missing or fails.
    static func git(_ arguments: [String]) -> String? {
        guard let r = Subprocess.run("git", arguments, errors: .discarded), r.status == 0 else { return nil }
        return r.output
    }
}
