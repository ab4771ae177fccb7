import ArgumentParser
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

    func run() throws {
        var options = REPL.Options()
        options.seed = seed
        options.color = color
        let status = REPL(options: options).run(options: options)
        if status != 0 { throw ExitCode(status) }
    }
}
