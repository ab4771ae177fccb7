import Foundation

/// Terminal facts: width for tensor grids, and whether to colour.
enum Terminal {
    static var width: Int {
        var w = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &w) == 0 && w.ws_col > 20 { return Int(w.ws_col) }
        return 80
    }

    /// Colour only on a TTY, never with NO_COLOR set or TERM=dumb (or when told `never`).
    static func colorEnabled(_ choice: String) -> Bool {
        switch choice {
        case "always": return true
        case "never": return false
        default:
            let env = ProcessInfo.processInfo.environment
            return isatty(1) != 0 && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
        }
    }
}

/// ANSI styles, empty when colour is off.
struct Style {
    let on: Bool
    func wrap(_ s: String, _ code: String) -> String { on ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    func prompt(_ s: String) -> String {
        // \001 … \002 tell readline the escape codes take no columns.
        on ? "\u{01}\u{1B}[1;36m\u{02}\(s)\u{01}\u{1B}[0m\u{02}" : s
    }
    func error(_ s: String) -> String { wrap(s, "31") }
    func header(_ s: String) -> String { wrap(s, "1") }
    func dim(_ s: String) -> String { wrap(s, "2") }
}
