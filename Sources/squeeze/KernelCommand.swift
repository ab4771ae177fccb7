import ArgumentParser
import Foundation
import History
import Kernel
import SqueezeCore

/// `squeeze kernel -f CONNECTION_FILE`: the Jupyter kernel; `squeeze kernel install`: its kernelspec.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Run squeeze as a Jupyter kernel (Jupyter starts it with -f CONNECTION_FILE).",
        discussion: """
            Each kernel session is recorded in the history as a run of kind notebook, one cell per execution. \
            Cells write under the notebook's folder (Jupyter's working directory for the kernel) and --allow-write directories. \
            Without --seed, SQUEEZE_SEED seeds the session; else a seed is drawn and recorded.
            """,
        subcommands: [KernelInstall.self])

    @Option(name: .customShort("f"), help: ArgumentHelp("The connection file Jupyter wrote.", valueName: "file"))
    var connectionFile: String?

    @Option(help: "Seed of the session's random generator (default: $SQUEEZE_SEED, else drawn and recorded).")
    var seed: UInt64?

    @OptionGroup var session: SessionOptions

    func run() throws {
        guard let connectionFile else {
            throw ValidationError(
                "squeeze kernel needs -f CONNECTION_FILE (Jupyter passes it); `squeeze kernel install` writes the kernelspec")
        }
        let connection: ConnectionInfo
        do { connection = try ConnectionInfo(file: connectionFile) } catch {
            RecipeRunner.stderr("squeeze kernel: \(error)\n")
            throw ExitCode(Exit.usage)
        }
        var options = Kernel.Options()
        if let seed {
            options.seed = seed
        } else if let text = ProcessInfo.processInfo.environment["SQUEEZE_SEED"] {
            guard let s = UInt64(text) else { throw ValidationError("SQUEEZE_SEED must be a non-negative integer, got '\(text)'") }
            options.seed = s
        } else {
            options.seed = RecipeRunner.drawSeed()
        }
        options.outputDirectory = try session.outputDirectory()
        options.allowedWriteDirectories = session.allowedWriteDirectories
        options.recording = try session.recording()
        // Ctrl-C in a terminal that started the kernel, or jupyter_client's signal interrupt: only
        // cancel the running cell. A kernel is never ended by a second SIGINT; Jupyter shuts it down.
        signal(SIGINT) { _ in CancellationToken.shared.cancel() }
        Kernel.version = Version.squeeze
        let kernel: Kernel
        do { kernel = try Kernel(connection: connection, options: options) } catch {
            RecipeRunner.stderr("squeeze kernel: cannot open the sockets of '\(connectionFile)': \(error)\n")
            throw ExitCode(Exit.runtime)
        }
        let status = kernel.run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// `squeeze kernel install`: writes `kernels/NAME/kernel.json` where Jupyter looks for kernelspecs.
struct KernelInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install the squeeze kernelspec so Jupyter (Lab, Notebook, nbconvert, VS Code) can start squeeze.",
        discussion: """
            Default --user: $JUPYTER_DATA_DIR/kernels, else ~/.local/share/jupyter/kernels. --sys-prefix: the active \
            Python environment ($VIRTUAL_ENV, else python3's sys.prefix)/share/jupyter/kernels. --prefix DIR: \
            DIR/share/jupyter/kernels. Options after -- are passed to every `squeeze kernel` Jupyter starts \
            (e.g. -- --allow-write /data/results --history /data/history.db).
            """)

    @Flag(help: "Install for this user (the default).")
    var user = false

    @Flag(name: .customLong("sys-prefix"), help: "Install into the active Python environment's prefix.")
    var sysPrefix = false

    @Option(help: ArgumentHelp("Install under DIR/share/jupyter/kernels.", valueName: "dir"))
    var prefix: String?

    @Option(help: "The kernel's name (kernelspec directory).")
    var name = "squeeze"

    @Option(name: .customLong("display-name"), help: "The name notebooks show.")
    var displayName = "squeeze"

    @Argument(parsing: .postTerminator, help: "Arguments for every kernel Jupyter starts (after --).")
    var kernelArguments: [String] = []

    func validate() throws {
        if [user, sysPrefix, prefix != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of --user, --sys-prefix and --prefix")
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ValidationError("--name: letters, digits, '-', '_' and '.' only, got '\(name)'")
        }
    }

    func run() throws {
        let kernels = try kernelsDirectory()
        let dir = kernels.appendingPathComponent(name)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let spec: [String: Any] = [
            "argv": [executable, "kernel", "-f", "{connection_file}"] + kernelArguments,
            "display_name": displayName, "language": "squeeze", "interrupt_mode": "message",
            "metadata": ["debugger": false],
        ]
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try data.write(to: dir.appendingPathComponent("kernel.json"), options: .atomic)
        } catch {
            RecipeRunner.stderr("squeeze kernel install: cannot write '\(dir.path)/kernel.json': \(error.localizedDescription)\n")
            throw ExitCode(Exit.runtime)
        }
        print("installed kernelspec \(name) in \(dir.path)")
    }

    func kernelsDirectory() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        if let prefix { return URL(fileURLWithPath: prefix).appendingPathComponent("share/jupyter/kernels") }
        if sysPrefix {
            let root = env["VIRTUAL_ENV"] ?? pythonPrefix()
            guard let root else {
                throw ValidationError("--sys-prefix: no active Python environment (VIRTUAL_ENV unset and python3 not found)")
            }
            return URL(fileURLWithPath: root).appendingPathComponent("share/jupyter/kernels")
        }
        if let data = env["JUPYTER_DATA_DIR"], !data.isEmpty { return URL(fileURLWithPath: data).appendingPathComponent("kernels") }
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: base).appendingPathComponent("jupyter/kernels")
    }

    /// `sys.prefix` of the python3 on PATH.
    func pythonPrefix() -> String? {
        guard let r = Subprocess.run("python3", ["-c", "import sys; print(sys.prefix)"], errors: .inherited), r.status == 0 else {
            return nil
        }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
