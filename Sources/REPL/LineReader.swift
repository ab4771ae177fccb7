@preconcurrency import CReadline
import Foundation
import Recipe
import SqueezeCore

/// GNU readline through its callback interface, so that Ctrl-C at the prompt (a SIGINT that
/// interrupts `poll`) clears the line instead of killing the session.
final class LineReader {
    enum Input { case line(String), interrupted, end }

    let historyFile: String
    static let historyLimit: Int32 = 10_000

    init(historyFile: String, session: Interpreter) {
        self.historyFile = historyFile
        completionSession = session
        rl_readline_name = UnsafePointer(strdup("squeeze"))
        rl_catch_signals = 0
        rl_catch_sigwinch = 1
        rl_completer_word_break_characters = UnsafePointer(codeBreaks)
        rl_attempted_completion_function = attemptCompletion
        rl_completion_word_break_hook = wordBreaks
        using_history()
        stifle_history(LineReader.historyLimit)
        read_history(historyFile)
    }

    /// Reads one line with `prompt`; Ctrl-C gives `.interrupted`, Ctrl-D on an empty line `.end`.
    func read(prompt: String, cancellation: CancellationToken) -> Input {
        pendingInput = nil
        // A Ctrl-C that came after the last statement had finished is not for this prompt; one
        // that comes once the prompt is shown (even before `poll` below) is.
        cancellation.reset()
        rl_callback_handler_install(prompt, lineHandler)
        // The line handler removes itself (so readline does not redraw the prompt after Enter);
        // remove it here only when leaving for another reason.
        var isInterrupted = false
        defer { if pendingInput == nil || isInterrupted { rl_callback_handler_remove() } }
        while pendingInput == nil {
            // Ctrl-C is seen through the token's wake pipe as well as by EINTR: the signal may be
            // taken by another thread, or arrive just before `poll`, and must not be lost then.
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: cancellation.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            let r = poll(&fds, 2, -1)
            if cancellation.isCancelled && (r < 0 || fds[1].revents != 0) {
                cancellation.reset()
                rl_replace_line("", 0)
                rl_crlf()
                isInterrupted = true
                return .interrupted
            }
            if r < 0 || fds[0].revents == 0 {
                cancellation.drainWakes()
                continue
            }
            rl_callback_read_char()
        }
        return pendingInput ?? .end
    }

    /// Adds an entry to the in-memory history and appends it to the history file.
    func remember(_ entry: String) {
        let trimmed = entry.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return }
        add_history(trimmed)
        if !FileManager.default.fileExists(atPath: historyFile) {
            _ = FileManager.default.createFile(atPath: historyFile, contents: nil)
        }
        append_history(1, historyFile)
        history_truncate_file(historyFile, LineReader.historyLimit)
    }

    /// The last `n` history entries, oldest first.
    func recent(_ n: Int) -> [String] {
        let count = Int(history_length)
        let base = Int(history_base)
        return (max(0, count - n)..<count).compactMap { i in
            history_get(Int32(base + i)).flatMap { $0.pointee.line.map { String(cString: $0) } }
        }
    }
}

// C callbacks must be global functions; they talk to the reader through these globals, which only
// the REPL's one thread touches.
nonisolated(unsafe) private var pendingInput: LineReader.Input?
nonisolated(unsafe) private var completionSession: Interpreter?
nonisolated(unsafe) private var completionMatches: [String] = []
nonisolated(unsafe) private var completionIndex = 0

private func lineHandler(_ line: UnsafeMutablePointer<CChar>?) {
    rl_callback_handler_remove()
    if let line {
        pendingInput = .line(String(cString: line))
        free(line)
    } else {
        pendingInput = .end
    }
}

private func attemptCompletion(
    _ text: UnsafePointer<CChar>?, _ start: Int32, _ end: Int32
) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    let line = rl_line_buffer.map { String(cString: $0) } ?? ""
    let word = text.map { String(cString: $0) } ?? ""
    rl_attempted_completion_over = 1
    if Completion.insideString(line: line, start: Int(start)) {
        // A path: complete it ourselves, relative to the working directory (readline's own file
        // completion only sees the word after the last break character, so `data/my` failed).
        let cwd = FileManager.default.currentDirectoryPath
        completionMatches = Completion.fileCandidates(line: line, start: Int(start), text: word, base: cwd)
        completionIndex = 0
        // One match: insert the rest of it here, as readline would close the quote after it.
        if completionMatches.count == 1 {
            let rest = String(completionMatches[0].utf8.dropFirst(word.utf8.count)) ?? ""
            _ = rest.withCString { rl_insert_text($0) }
            return nil
        }
        return completionMatches.isEmpty ? nil : rl_completion_matches(text, completionGenerator)
    }
    guard let session = completionSession else { return nil }
    completionMatches = Completion.candidates(line: line, start: Int(start), text: word, session: session)
    completionIndex = 0
    if completionMatches.count == 1 && completionMatches[0].hasSuffix(":") { rl_completion_append_character = 32 }
    return rl_completion_matches(text, completionGenerator)
}

/// Inside a string literal words break only at the quote and at `/` (so `my.npy` is one word);
/// elsewhere at operators and punctuation as well.
nonisolated(unsafe) private let codeBreaks = strdup(" \t\n\"\\'`@$><=;|&{([,+-*/%.:")
nonisolated(unsafe) private let pathBreaks = strdup(" \t\n\"/")

private func wordBreaks() -> UnsafeMutablePointer<CChar>? {
    let line = rl_line_buffer.map { String(cString: $0) } ?? ""
    let point = String(decoding: Array(line.utf8).prefix(Int(rl_point)), as: UTF8.self)
    return Completion.insideString(line: point, start: point.utf8.count) ? pathBreaks : codeBreaks
}

private func completionGenerator(_ text: UnsafePointer<CChar>?, _ state: Int32) -> UnsafeMutablePointer<CChar>? {
    if state == 0 { completionIndex = 0 }
    guard completionIndex < completionMatches.count else { return nil }
    defer { completionIndex += 1 }
    return strdup(completionMatches[completionIndex])
}
