import Foundation
import History
import Runs
import Synchronization
import SqueezeCore

/// Ctrl-C and child exits, seen by the sweep's loop through the tokens' wake pipes (a signal
/// handler may only write): `childExits` is set by SIGCHLD and only ever wakes the loop.
private let childExits = CancellationToken()
private let sweepInterrupts = Atomic<Int>(0)

/// This executable's path, for the runs it starts.
func squeezeExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}

/// The local engine: up to `jobs` `squeeze run` processes at a time, each with cores/jobs BLAS
/// threads, in process groups of their own (a terminal's Ctrl-C reaches the sweep only: the first
/// stops launching, the second is passed on to the running points, which record themselves interrupted).
struct LocalEngine {
    let plan: SweepPlan
    let historyPath: String

    struct Child {
        let point: SweepPlan.Point
        let started: ContinuousClock.Instant
        let log: String
    }

    func run(_ todo: [SweepPlan.Point], of total: Int) throws -> Int32 {
        let jobs = plan.jobs ?? Parallel.cores
        let threads = plan.blasThreads ?? 1
        guard !todo.isEmpty else { print("sweep \(plan.name): nothing to run (\(total) of \(total) completed)"); return 0 }
        print("sweep \(plan.name): \(plural(todo.count, "run")), \(jobs) at a time, \(plural(threads, "BLAS thread")) each")
        try FileManager.default.createDirectory(atPath: plan.logFolder, withIntermediateDirectories: true)
        installSignals()
        defer { restoreSignals() }
        let executable = squeezeExecutable()
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = String(threads)
        let env = environment.map { "\($0.key)=\($0.value)" }
        var queue = todo[...]
        var running: [pid_t: Child] = [:]
        var finished = 0, failed = 0, interrupted = 0, total = 0.0
        var passedOn = false, announced = false
        let task = ProgressMeter.start("sweep \(plan.name)", total: todo.count)
        defer { task.end() }
        let width = String(todo.count).count
        while true {
            let stopping = sweepInterrupts.load(ordering: .relaxed) > 0
            while !stopping, running.count < jobs, let point = queue.popFirst() {
                let folder = plan.pointFolder(point)
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let log = plan.logFolder + "/" + point.folder + ".log"
                let args = [executable, "run"] + plan.runArguments(point)
                    + ["--history", historyPath, "--quiet", "--parent", String(getpid())]
                let pid = try spawn(executable, args, env: env, log: log)
                running[pid] = Child(point: point, started: .now, log: log)
            }
            if running.isEmpty { break }
            if stopping && !announced {
                let n = running.count
                RecipeRunner.stderr("sweep \(plan.name): stopping: no new points; \(plural(n, "running point")) finishing "
                    + "(Ctrl-C again interrupts \(n == 1 ? "it" : "them"))\n")
                announced = true
            }
            if stopping && !passedOn && sweepInterrupts.load(ordering: .relaxed) > 1 {
                for pid in running.keys { kill(pid, SIGINT) }
                passedOn = true
            }
            task.note("\(finished) done, \(running.count) running, \(failed) failed\(stopping ? ", stopping" : "")")
            waitForEvent()
            var status: Int32 = 0
            while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
                guard let child = running.removeValue(forKey: pid) else { continue }
                let dt = (ContinuousClock.now - child.started).seconds
                total += dt
                finished += 1
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                let outcome: String
                switch code {
                case 0: outcome = "completed"
                case Exit.interrupted: outcome = "interrupted"; interrupted += 1
                default: outcome = "failed (exit \(code); log: \(shown(child.log)))"; failed += 1
                }
                task.advance()
                let n = String(finished).leftPadded(to: width)
                print("[\(n)/\(todo.count)] \(child.point.label): \(outcome), \(seconds(dt))")
            }
        }
        let notRun = queue.count
        var summary = "sweep \(plan.name): \(finished - failed - interrupted) completed, \(failed) failed"
        if interrupted > 0 { summary += ", \(interrupted) interrupted" }
        if notRun > 0 { summary += ", \(notRun) not started (squeeze sweep --resume … continues)" }
        if finished > 0 { summary += "; \(seconds(total / Double(finished))) per run on average" }
        print(summary)
        if sweepInterrupts.load(ordering: .relaxed) > 0 { return Exit.interrupted }
        return failed > 0 ? Exit.runtime : 0
    }

    /// Starts `args` in a process group of its own, standard output and error to `log`.
    func spawn(_ path: String, _ args: [String], env: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGCHLD)
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = args.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SweepError("cannot start \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    func installSignals() {
        sweepInterrupts.store(0, ordering: .relaxed)
        CancellationToken.shared.reset()
        childExits.reset()
        signal(SIGCHLD) { _ in childExits.cancel() }
        signal(SIGINT) { _ in
            sweepInterrupts.add(1, ordering: .relaxed)
            CancellationToken.shared.cancel()
        }
    }

    func restoreSignals() {
        signal(SIGCHLD, SIG_DFL)
        installInterruptHandler()
    }

    /// Blocks until a child exits or Ctrl-C is pressed (either may have happened already).
    func waitForEvent() {
        var fds = [pollfd(fd: childExits.wakeDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: CancellationToken.shared.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        // SIGCHLD's handler is installed before the first child starts, so no exit goes unseen; the
        // one-second bound only keeps the loop reaping if a wake pipe could not be made.
        _ = poll(&fds, 2, 1000)
        childExits.reset()
        CancellationToken.shared.drainWakes()
    }
}

/// A path as the user would type it: relative to the working directory when under it.
func shown(_ path: String) -> String {
    let cwd = FileManager.default.currentDirectoryPath
    return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
}

/// A duration as a person reads it: 35 ms, 1.2 s, 3m05s.
func seconds(_ s: Double) -> String { s < 1 ? String(format: "%.0f ms", s * 1000) : ProgressLine.time(s) }

func plural(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// The Slurm engine: one array task per point, each running `squeeze run` into a history shard of
/// its own (`shards/<index>.db`), submitted with sbatch.
struct SlurmEngine {
    let plan: SweepPlan
    let options: SlurmOptions

    func submit(_ todo: [SweepPlan.Point]) throws -> SweepPlan.Submission {
        let fm = FileManager.default
        for dir in [plan.shardFolder, plan.logFolder, plan.folder + "/points"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        for p in todo {
            try fm.createDirectory(atPath: plan.pointFolder(p), withIntermediateDirectories: true)
            let args = plan.runArguments(p)
            try Data((args.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: plan.folder + "/points/\(p.index).args"))
        }
        let script = plan.folder + "/sweep-\(plan.submissions.count + 1).sbatch"
        try Data(self.script(todo).utf8).write(to: URL(fileURLWithPath: script))
        chmod(script, 0o755)
        guard let (status, output) = Subprocess.run("sbatch", ["--parsable", script], errors: .merged) else {
            throw SweepError("cannot run sbatch (is Slurm installed here?)")
        }
        guard status == 0 else {
            throw SweepError("sbatch failed (exit \(status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let jobID = output.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard !jobID.isEmpty, jobID.allSatisfy(\.isNumber) else { throw SweepError("sbatch printed no job id: '\(output)'") }
        return .init(jobID: jobID, script: script, tasks: todo.map(\.index), submitted: Date().timeIntervalSince1970)
    }

    /// The job array's script: `--array` over the points to run, `%K` for --max-parallel.
    func script(_ todo: [SweepPlan.Point]) -> String {
        var array = SlurmEngine.ranges(todo.map(\.index))
        if let k = options.maxParallel { array += "%\(max(1, k))" }
        var lines = ["#!/bin/bash", "# Written by squeeze sweep: one task per point of sweep '\(plan.name)' (\(plan.folder)/sweep.json)."]
        lines.append("#SBATCH --job-name=squeeze-\(plan.name)")
        lines.append("#SBATCH --array=\(array)")
        lines.append("#SBATCH --output=\(plan.logFolder)/task-%a.log")
        lines.append("#SBATCH --cpus-per-task=\(options.cpusPerTask ?? 1)")
        if let p = options.partition { lines.append("#SBATCH --partition=\(p)") }
        if let t = options.time { lines.append("#SBATCH --time=\(t)") }
        if let m = options.mem { lines.append("#SBATCH --mem=\(m)") }
        for a in options.sbatchArguments { lines.append("#SBATCH \(a)") }
        lines += [
            "set -euo pipefail",
            "export OPENBLAS_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
            "# Each task records into a history shard of its own: no SQLite file is shared between nodes.",
            "mapfile -t args < \(shellQuote(plan.folder))/points/\"$SLURM_ARRAY_TASK_ID\".args",
            "exec \(shellQuote(squeezeExecutable())) run \"${args[@]}\" \\",
            "  --history \(shellQuote(plan.shardFolder))/\"$SLURM_ARRAY_TASK_ID\".db --quiet",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `0-3,5,7-9` for the indices given.
    static func ranges(_ indices: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let s = indices.sorted()
        while i < s.count {
            var j = i
            while j + 1 < s.count && s[j + 1] == s[j] + 1 { j += 1 }
            parts.append(i == j ? "\(s[i])" : "\(s[i])-\(s[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// A Slurm sweep's shards: one history per task under `shards/`.
enum SweepShards {
    static func paths(_ plan: SweepPlan) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: plan.shardFolder)) ?? []
        return names.filter { $0.hasSuffix(".db") }.sorted { (Int($0.dropLast(3)) ?? 0) < (Int($1.dropLast(3)) ?? 0) }
            .map { plan.shardFolder + "/" + $0 }
    }

    /// The runs the shards hold (damaged shards are left out).
    static func runs(_ plan: SweepPlan) -> [RunRecord] {
        paths(plan).flatMap { path in (try? HistoryStore.openShard(path: path).runs()) ?? [] }
    }
}
