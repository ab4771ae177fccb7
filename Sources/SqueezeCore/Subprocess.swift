import Foundation

/// A command-line tool found on PATH (git, python3, sbatch, squeue …), run to its end.
public enum Subprocess {
    /// Where the tool's standard error goes.
    public enum Errors: Sendable { case merged, discarded, inherited }

    /// The tool's exit status and standard output (with its standard error when `merged`); nil when
    /// it cannot be started.
    public static func run(_ tool: String, _ arguments: [String], errors: Errors) -> (status: Int32, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + arguments
        let out = Pipe()
        p.standardOutput = out
        switch errors {
        case .merged: p.standardError = out
        case .discarded: p.standardError = FileHandle.nullDevice
        case .inherited: break
        }
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
