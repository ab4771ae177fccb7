import ArgumentParser
import Foundation
import History
import REPL

struct Repl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "The interactive REPL (the default when squeeze has no arguments).",
        discussion: "With stdin not a terminal, stdin is run as a recipe, without prompts, with the recipe exit codes.")

    @Option(help: "Seed of the session's random generator (default: drawn and recorded).")
    var seed: UInt64?

    @Option(help: "Colour prompts, errors and headers: auto, always or never (NO_COLOR and TERM=dumb also turn it off).")
    var color: String = "auto"

    @OptionGroup var session: SessionOptions

    func run() throws {
        var options = REPL.Options()
        options.seed = seed ?? RecipeRunner.drawSeed()
        options.color = color
        options.outputDirectory = try session.outputDirectory()
        options.allowedWriteDirectories = session.allowedWriteDirectories
        options.recording = try session.recording()
        let status = REPL(options: options).run(options: options)
        if status != 0 { throw ExitCode(status) }
    }
}

/// The options of an interactive session, shared by `repl` and `kernel`: where it writes and how it
/// is recorded.
struct SessionOptions: ParsableArguments {
    @Option(help: "Directory the session writes into (default: the working directory; for a kernel, the notebook's folder).")
    var out: String?

    @Option(name: .customLong("allow-write"), help: "Also allow writes under this directory (repeatable).")
    var allowWrite: [String] = []

    @OptionGroup var history: HistoryOptions

    @OptionGroup var artifacts: ArtifactOptions

    @Flag(name: .customLong("no-history"), help: "Do not record the session.")
    var noHistory = false

    /// `--out DIR`, created if missing (nil: the working directory).
    func outputDirectory() throws -> URL? {
        guard let out else { return nil }
        let dir = URL(fileURLWithPath: out).standardizedFileURL
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            RecipeRunner.stderr("squeeze: cannot create --out directory '\(dir.path)': \(error.localizedDescription)\n")
            throw ExitCode(Exit.usage)
        }
        return dir
    }

    var allowedWriteDirectories: [URL] { allowWrite.map { URL(fileURLWithPath: $0) } }

    /// The session's recording into the history (nil with --no-history).
    func recording() throws -> HistorySessionRecording? {
        guard !noHistory else { return nil }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let store = try history.open()
        store.artifactLimit = try artifacts.bytes()
        return HistorySessionRecording(store: store) { .current(squeezeVersion: Version.squeeze, recipeDirectory: cwd) }
    }
}
