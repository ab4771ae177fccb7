import ArgumentParser
import Foundation
import Recipe
import SqueezeCore

/// Exit codes (STYLE.md 4).
enum Exit {
    static let usage: Int32 = 64
    static let recipe: Int32 = 65
    static let runtime: Int32 = 70
    static let history: Int32 = 74
    static let interrupted: Int32 = 130
}

struct Squeeze: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "squeeze",
        abstract: "A notebook-style scripting environment for compression research.",
        discussion: "Run with no arguments for the REPL. `squeeze help` lists the operations; `squeeze help NAME` documents one.",
        version: Version.full,
        subcommands: [
            Run.self, Repl.self, Runs.self, Show.self, DiffRuns.self, Replay.self, Export.self, Artifact.self, Doctor.self,
            KernelCommand.self, SweepCommand.self,
        ],
        defaultSubcommand: Repl.self)
}

/// `squeeze show -1`, `diff -1 -2`, `replay -1`, `export -1 …`, `artifact -1 PATH`: a run reference
/// `-N` (the N-th newest) looks like a flag to the argument parser, so these commands get their
/// options first and their positional arguments after a `--`, in the order given.
func runReferencesAsPositionals(_ arguments: [String]) -> [String] {
    guard let command = arguments.first, ["show", "diff", "replay", "export", "artifact"].contains(command),
          !arguments.contains("--") else { return arguments }
    let isReference = { (a: String) in a.count > 1 && a.hasPrefix("-") && a.dropFirst().allSatisfy(\.isNumber) }
    guard arguments.dropFirst().contains(where: isReference) else { return arguments }
    let takesValue: Set = ["-o", "--output", "--format", "--history", "--tolerance", "--out", "--artifact-limit"]
    var options: [String] = [], positionals: [String] = []
    var rest = arguments.dropFirst()[...]
    while let a = rest.popFirst() {
        if isReference(a) || !a.hasPrefix("-") {
            positionals.append(a)
        } else {
            options.append(a)
            if takesValue.contains(a), let value = rest.popFirst() { options.append(value) }
        }
    }
    return [command] + options + ["--"] + positionals
}

/// `squeeze help [OP]` comes from the registry; ArgumentParser keeps `--help` for the commands.
func helpCommand(_ args: [String]) -> Int32 {
    guard let name = args.first else {
        print("squeeze operations (squeeze help NAME for one):\n")
        print(Registry.overview(), terminator: "")
        return 0
    }
    if let op = Registry.byName[name] {
        print(op.help, terminator: "")
        return 0
    }
    if name == "--markdown" {
        print(Registry.markdownTable(), terminator: "")
        return 0
    }
    if name == "--reference" {
        print(Registry.markdownReference(), terminator: "")
        return 0
    }
    if name == "run" {
        print(Run.helpMessage())
        return 0
    }
    FileHandle.standardError.write(
        Data("squeeze: no operation named '\(name)'\(Suggest.didYouMean(name, in: Registry.byName.keys).map { "; \($0)" } ?? "")\n".utf8))
    return Exit.usage
}

var arguments = Array(CommandLine.arguments.dropFirst())
// A REPL or kernel session is long: one malloc heap, so what worker threads free can be trimmed (before any
// thread starts).
let longSession = { (a: String) in a == "repl" || a == "kernel" || a.hasPrefix("-") && a != "--help" && a != "-h" && a != "--version" }
if arguments.first.map(longSession) ?? true {
    Memory.useOneHeap()
}
// Loops that make and drop the same tensors (training steps) reuse freed memory instead of faulting in fresh pages.
Memory.keepFreedMemory()
BLAS.limitIdleSpinning()
installInterruptHandler()
// The memory budget for any one result: --max-memory SIZE (any command) or SQUEEZE_MAX_MEMORY;
// default 80% of physical memory.
var budget = ProcessInfo.processInfo.environment["SQUEEZE_MAX_MEMORY"].map { ("SQUEEZE_MAX_MEMORY", $0) }
if let i = arguments.firstIndex(where: { $0 == "--max-memory" || $0.hasPrefix("--max-memory=") }) {
    if arguments[i].hasPrefix("--max-memory=") {
        budget = ("--max-memory", String(arguments[i].dropFirst("--max-memory=".count)))
        arguments.remove(at: i)
    } else if i + 1 < arguments.count {
        budget = ("--max-memory", arguments[i + 1])
        arguments.removeSubrange(i...(i + 1))
    } else {
        FileHandle.standardError.write(Data("squeeze: --max-memory needs a size, e.g. --max-memory 4G\n".utf8))
        exit(Exit.usage)
    }
}
// --quiet (any command): no progress line. Progress goes to standard error only when it is a terminal.
if let i = arguments.firstIndex(of: "--quiet") {
    arguments.remove(at: i)
} else if isatty(2) != 0 {
    ProgressMeter.sink = ProgressLine()
}
if let (source, text) = budget {
    guard let bytes = Memory.parse(text) else {
        FileHandle.standardError.write(Data("squeeze: \(source): expected a size such as 512M, 4G or a byte count, got '\(text)'\n".utf8))
        exit(Exit.usage)
    }
    Memory.limit = bytes
}
if arguments.first == "help" {
    exit(helpCommand(Array(arguments.dropFirst())))
}
arguments = runReferencesAsPositionals(arguments)
do {
    var command = try Squeeze.parseAsRoot(arguments)
    try command.run()
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    let code = Squeeze.exitCode(for: error)
    if code == .validationFailure || code.rawValue == 64 {
        FileHandle.standardError.write(Data((Squeeze.fullMessage(for: error) + "\n").utf8))
        exit(Exit.usage)
    }
    Squeeze.exit(withError: error)
}
