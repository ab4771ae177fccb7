import Foundation
import SqueezeCore

extension RunEnvironment {
    /// The machine, BLAS and (when the recipe lives in a git work tree) the commit the run ran on.
    public static func current(squeezeVersion: String, recipeDirectory: URL?) -> RunEnvironment {
        var env = RunEnvironment(squeezeVersion: squeezeVersion)
        env.blas = BLAS.config
        env.blasThreads = BLAS.threads
        env.cores = Parallel.cores
        env.host = ProcessInfo.processInfo.hostName
        env.cpu = cpuModel()
        env.os = ProcessInfo.processInfo.operatingSystemVersionString
        if let dir = recipeDirectory, let root = gitRoot(dir) {
            env.gitCommit = git(["-C", root.path, "rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines)
            if env.gitCommit != nil, let status = git(["-C", root.path, "status", "--porcelain", "--untracked-files=no"]) {
                env.gitDirty = !status.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
        }
        return env
    }

    static func cpuModel() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
