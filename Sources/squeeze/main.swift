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
        subcommands: [Run.self, Repl.self, Runs.self, Show.self, DiffRuns.self, Replay.self, Export.self],
        defaultSubcommand: Repl.self)
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
    if name == "run" {
        print(Run.helpMessage())
        return 0
    }
    FileHandle.standardError.write(Data("squeeze: no operation named '\(name)'\(Suggest.didYouMean(name, in: Registry.byName.keys).map { "; \($0)" } ?? "")\n".utf8))
    return Exit.usage
}

BLAS.limitIdleSpinning()
installInterruptHandler()
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "help" {
    exit(helpCommand(Array(arguments.dropFirst())))
}
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
