import ArgumentParser
import Foundation
import History
import Recipe
import Runs

/// `squeeze artifact ID [PATH] [-o FILE]`: a run's files as it wrote them, from the history's store.
struct Artifact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Get back a file a run wrote, as it wrote it, from the history's artifact store.",
        discussion: """
            Without PATH, lists the run's files and whether the history holds a copy. With PATH (as `squeeze \
            show` lists it, or its file name when that is unique in the run), writes the stored copy to -o FILE, \
            or to standard output when that is not a terminal. A file written twice by the run is its last version. \
            Files over the size limit of the run (--artifact-limit) were recorded by SHA-256 only: the file itself \
            is used when it still holds those bytes.
            """)

    @Argument(help: "The run: an id, `last`, or -N.") var id: String
    @Argument(help: "The file, as the run recorded it.") var path: String?
    @Option(name: .shortAndLong, help: "Write the file here.") var output: String?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let store = try history.open(create: false)
        let run = try historyQuery { try store.run(try store.resolve(id)) }
        guard let path else {
            print(
                TextTable.render(
                    header: ["path", "bytes", "sha256", "copy"],
                    rows: run.artifacts.map { [$0.path, String($0.bytes), String($0.sha256.prefix(16)), Report.copyState($0)] }))
            if run.artifacts.isEmpty { print("run \(run.id) wrote no files") }
            return
        }
        let byPath = run.artifacts.filter { $0.path == path }
        let byName = run.artifacts.filter { URL(fileURLWithPath: $0.path).lastPathComponent == path }
        let names = Set(byName.map(\.path))
        guard let a = byPath.last ?? (names.count == 1 ? byName.last : nil) else {
            let known = Array(Set(run.artifacts.map(\.path))).sorted()
            let why =
                names.count > 1
                ? "'\(path)' names \(names.count) files of run \(run.id): \(names.sorted().joined(separator: ", ")); give the whole path"
                : "run \(run.id) wrote no file '\(path)'"
                    + (known.isEmpty ? " (it wrote none)" : "; it wrote: \(known.prefix(10).joined(separator: ", "))")
            RecipeRunner.stderr("squeeze: \(why)\n")
            throw ExitCode(Exit.usage)
        }
        guard let source = Notebook.recordedFile(a, run) else {
            let reason =
                a.copy.map { "the history's copy (\($0)) is missing or damaged (`squeeze doctor` lists such copies)" }
                ?? "the history kept no copy (\(a.bytes) bytes, over the run's --artifact-limit, or recorded before the store existed)"
            RecipeRunner.stderr(
                "squeeze: run \(run.id)'s \(a.path) (sha256 \(a.sha256.prefix(16))…) cannot be had: \(reason), and the file no longer "
                    + "holds those bytes\n")
            throw ExitCode(Exit.history)
        }
        if let output {
            // Copied beside the target and renamed over it: a failed copy leaves the old file as it was.
            let fm = FileManager.default
            let target = URL(fileURLWithPath: output).standardizedFileURL
            let scratch = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).squeeze-\(getpid())")
            do {
                try fm.copyItem(atPath: source, toPath: scratch.path)
                guard rename(scratch.path, target.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            } catch {
                try? fm.removeItem(at: scratch)
                RecipeRunner.stderr("squeeze: cannot write '\(output)': \(error.localizedDescription)\n")
                throw ExitCode(Exit.usage)
            }
            RecipeRunner.stderr("squeeze: wrote \(output) (\(a.bytes) bytes, run \(run.id)'s \(a.path))\n")
            return
        }
        guard isatty(STDOUT_FILENO) == 0 else {
            RecipeRunner.stderr("squeeze: \(a.path) is \(a.bytes) bytes of .\(a.kind); give -o FILE, or redirect standard output\n")
            throw ExitCode(Exit.usage)
        }
        guard let handle = FileHandle(forReadingAtPath: source) else { throw ExitCode(Exit.history) }
        defer { try? handle.close() }
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { FileHandle.standardOutput.write(chunk) }
    }
}
