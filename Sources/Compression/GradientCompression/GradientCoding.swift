import Foundation
import SqueezeCore

/// Gradient coding (Tandon et al., ICML 2017): n workers, the data in n parts, worker i computes the parts
/// {i, …, i+s} (mod n) and sends one combination Σⱼ Bᵢⱼ gⱼ; from any n − s workers the master finds a with
/// aᵀB_S = 1ᵀ and so the full gradient Σⱼ gⱼ. B is the paper's cyclic construction: H ∈ ℝ^{s×n} random with
/// H·1 = 0, each row of B the vector of its support in H's null space with Bᵢᵢ = 1.
public struct GradientCode: Sendable {
    public let n: Int, s: Int
    /// Row-major n × n.
    public let matrix: [Double]

    public init(workers n: Int, stragglers s: Int, rng: inout RandomGenerator) throws {
        guard n >= 1, s >= 0, s < n else { throw CoreError.invalidArgument("gradient coding needs 0 ≤ s < n, got s = \(s), n = \(n)") }
        self.n = n
        self.s = s
        var b = [Double](repeating: 0, count: n * n)
        if s == 0 {
            for i in 0..<n { b[i * n + i] = 1 }
        } else {
            var h = [Double](repeating: 0, count: s * n)
            for r in 0..<s {
                var sum = 0.0
                for c in 0..<(n - 1) {
                    h[r * n + c] = rng.normal()
                    sum += h[r * n + c]
                }
                h[r * n + n - 1] = -sum
            }
            for i in 0..<n {
                let others = (1...s).map { (i + $0) % n }
                // H[:, others] x = −H[:, i]
                var a = [Double](repeating: 0, count: s * s), rhs = [Double](repeating: 0, count: s)
                for r in 0..<s {
                    for (k, c) in others.enumerated() { a[r * s + k] = h[r * n + c] }
                    rhs[r] = -h[r * n + i]
                }
                guard let x = Self.solve(a, rhs, s) else {
                    throw CoreError.invalidArgument("gradient coding: a singular draw; try another seed")
                }
                b[i * n + i] = 1
                for (k, c) in others.enumerated() { b[i * n + c] = x[k] }
            }
        }
        matrix = b
    }

    /// Decoding coefficients for the workers in `received` (≥ n − s of them; least squares of B_Sᵀ a = 1 by
    /// Householder QR on the first n − s), and the largest residual |B_Sᵀ a − 1|.
    public func decoder(_ received: [Int]) -> (coefficients: [Double], residual: Double)? {
        guard received.count >= n - s, received.count <= n else { return nil }
        // B's rows span an (n − s)-dimensional space: any n − s of them decode; the rest get coefficient 0.
        let k = n - s
        var m = [Double](repeating: 0, count: n * k)
        for (x, i) in received.prefix(k).enumerated() { for c in 0..<n { m[c * k + x] = matrix[i * n + c] } }
        guard var a = Self.leastSquares(m, [Double](repeating: 1, count: n), rows: n, cols: k) else { return nil }
        a += [Double](repeating: 0, count: received.count - k)
        var residual = 0.0
        for c in 0..<n {
            var v = 0.0
            for (x, i) in received.enumerated() { v += a[x] * matrix[i * n + c] }
            residual = max(residual, abs(v - 1))
        }
        return (a, residual)
    }

    /// min ‖A x − b‖ for A [rows × cols] (rows ≥ cols, full column rank) by Householder QR.
    static func leastSquares(_ a: [Double], _ b: [Double], rows: Int, cols: Int) -> [Double]? {
        var a = a, b = b
        for j in 0..<cols {
            var norm = 0.0
            for r in j..<rows { norm += a[r * cols + j] * a[r * cols + j] }
            norm = norm.squareRoot()
            guard norm > 1e-300 else { return nil }
            let alpha = a[j * cols + j] > 0 ? -norm : norm
            var v = [Double](repeating: 0, count: rows - j)
            for r in j..<rows { v[r - j] = a[r * cols + j] }
            v[0] -= alpha
            let vv = v.reduce(0) { $0 + $1 * $1 }
            guard vv > 0 else { continue }
            for c in j..<cols {
                var dot = 0.0
                for r in j..<rows { dot += v[r - j] * a[r * cols + c] }
                let f = 2 * dot / vv
                for r in j..<rows { a[r * cols + c] -= f * v[r - j] }
            }
            var dot = 0.0
            for r in j..<rows { dot += v[r - j] * b[r] }
            let f = 2 * dot / vv
            for r in j..<rows { b[r] -= f * v[r - j] }
        }
        var x = [Double](repeating: 0, count: cols)
        for r in stride(from: cols - 1, through: 0, by: -1) {
            var v = b[r]
            for c in (r + 1)..<max(cols, r + 1) { v -= a[r * cols + c] * x[c] }
            guard abs(a[r * cols + r]) > 1e-12 * max(1, abs(a[0])) else { return nil }
            x[r] = v / a[r * cols + r]
        }
        return x
    }

    /// Gaussian elimination with partial pivoting (k × k, row-major).
    static func solve(_ a: [Double], _ b: [Double], _ k: Int) -> [Double]? {
        var a = a, b = b
        for col in 0..<k {
            let pivot = (col..<k).max { abs(a[$0 * k + col]) < abs(a[$1 * k + col]) }!
            guard abs(a[pivot * k + col]) > 1e-300 else { return nil }
            if pivot != col {
                for c in 0..<k { a.swapAt(pivot * k + c, col * k + c) }
                b.swapAt(pivot, col)
            }
            for r in (col + 1)..<max(k, col + 1) {
                let f = a[r * k + col] / a[col * k + col]
                if f == 0 { continue }
                for c in col..<k { a[r * k + c] -= f * a[col * k + c] }
                b[r] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: k)
        for r in stride(from: k - 1, through: 0, by: -1) {
            var v = b[r]
            for c in (r + 1)..<max(k, r + 1) { v -= a[r * k + c] * x[c] }
            x[r] = v / a[r * k + r]
        }
        return x
    }
}

/// A simulation of T rounds of distributed gradient computation with stragglers (after the reference
/// simulators of Krishnan, Ebrahimi & Khisti, "Sequential Gradient Coding for Straggler Mitigation", ICLR 2023,
/// mamaj/Sequential-Gradient-Coding). Round t's delays `delays[t][i]` are the time worker i takes for one data
/// part; a task of k parts takes k times that. The master waits min(delay)·(1+μ); the slower workers are
/// stragglers if the scheme tolerates that pattern, else it waits for everyone.
/// - none: each worker one part (load 1/n); every round waits for all.
/// - gc: gradient coding, load (s+1)/n; round t decodable iff ≤ s stragglers (the reference tests `< s`).
/// - srsgc: selective-repeat SGC for the (B, W, λ)-bursty model, s = ⌈Bλ/(W−1+B)⌉, load (s+1)/n; job t is
///   decoded in round t+B from ≥ n − s results of rounds t and t+B: if v > s workers did not deliver job t in
///   round t, v − s of them repeat their job-t task in round t+B instead of their current one. The reference counts
///   only round t's stragglers; a worker busy repeating in round t leaves job t short as well, and with the reference's
///   rule admissible patterns exist that never decode (B = 2, W = 5, λ = 3: stragglers {6, 11}, {3, 11}, {3} in three
///   consecutive rounds leave the third job with n − 2 results), so both are counted here.
public struct StragglerSimulation: Sendable {
    public enum Scheme: String, Sendable, CaseIterable { case none, gc, srsgc = "sr-sgc" }

    public let scheme: Scheme
    public let n: Int, jobs: Int, s: Int
    public let burst: Int, window: Int, lambda: Int
    public let mu: Double

    public struct Result: Sendable {
        public var durations: [Double] = []
        /// Per round, per worker: straggled (its result not used).
        public var stragglers: [[Bool]] = []
        /// Per job: the round it was decoded in (−1: never).
        public var decodedAt: [Int] = []
        /// Per job: the largest |B_Sᵀa − 1| of its decoder (0 for no coding).
        public var residuals: [Double] = []
        public var load: Double = 0
        public var total: Double { durations.reduce(0, +) }
    }

    public init(
        scheme: Scheme, workers n: Int, jobs: Int, s: Int = 1, burst: Int = 1, window: Int = 2, lambda: Int = 1, mu: Double = 0.05
    ) throws {
        guard n >= 1, jobs >= 1 else { throw CoreError.invalidArgument("need at least one worker and one round") }
        guard mu >= 0 else { throw CoreError.invalidArgument("mu must be ≥ 0") }
        self.scheme = scheme
        self.n = n
        self.jobs = jobs
        self.mu = mu
        self.burst = burst
        self.window = window
        self.lambda = lambda
        switch scheme {
        case .none: self.s = 0
        case .gc:
            guard s >= 0, s < n else { throw CoreError.invalidArgument("gc: s must be in 0..<\(n), got \(s)") }
            self.s = s
        case .srsgc:
            guard burst >= 1, window > burst, (window - 1) % burst == 0 else {
                throw CoreError.invalidArgument("sr-sgc needs B ≥ 1, W > B and B dividing W − 1 (got B = \(burst), W = \(window))")
            }
            guard lambda >= 1, lambda <= n else { throw CoreError.invalidArgument("sr-sgc: lambda must be in 1...\(n)") }
            let v = Int((Double(burst * lambda) / Double(window - 1 + burst)).rounded(.up))
            guard v < n else { throw CoreError.invalidArgument("sr-sgc: s = \(v) must be below n = \(n)") }
            self.s = v
        }
    }

    /// Rounds the delay profile must cover: the jobs, plus B for SR-SGC's last decodes.
    public var rounds: Int { scheme == .srsgc ? jobs + burst : jobs }

    public var load: Double { Double(s + 1) / Double(n) }

    /// Whether marking `stragglers` in round r keeps the (B, W, λ) model (the reference's two conditions) given
    /// the earlier rounds' `history`: ≤ λ distinct stragglers in the last W rounds, and no straggler of round r
    /// straggled in rounds [r−W+1, r−B].
    public static func admissible(_ history: [[Bool]], _ r: Int, _ stragglers: [Bool], burst: Int, window: Int, lambda: Int) -> Bool {
        let n = stragglers.count
        let lo = max(0, r + 1 - window)
        var distinct = 0
        for i in 0..<n {
            var been = stragglers[i]
            for t in lo..<r where history[t][i] { been = true }
            if been { distinct += 1 }
        }
        if distinct > lambda { return false }
        let hi = max(0, r + 1 - burst)
        for i in 0..<n where stragglers[i] { for t in lo..<max(lo, hi) where history[t][i] { return false } }
        return true
    }

    public func run(delays: [[Double]], code: GradientCode?) throws -> Result {
        guard delays.count >= rounds, delays.allSatisfy({ $0.count == n }) else {
            throw CoreError.invalidArgument("the delays must be [rounds, workers] = [\(rounds), \(n)] (or more rounds)")
        }
        var res = Result()
        res.load = scheme == .none ? 1 / Double(n) : load
        let parts = Double(scheme == .none ? 1 : s + 1)
        // task[r][i]: the job worker i's result in round r belongs to (−1: straggled).
        var task = [[Int]]()
        res.decodedAt = Array(repeating: -1, count: jobs)
        res.residuals = Array(repeating: 0, count: jobs)
        for r in 0..<rounds {
            let d = delays[r]
            var result = Array(repeating: r, count: n)
            if scheme == .srsgc, r - burst >= 0 {
                // Workers that did not deliver job r−B in its round: stragglers, and (unlike the reference, which
                // counts only stragglers) workers busy repeating an older job then.
                let prev = (0..<n).filter { task[r - burst][$0] != r - burst }
                if prev.count > s { for i in prev.prefix(prev.count - s) { result[i] = r - burst } }
            }
            let wait = d.min()! * (1 + mu)
            let slow = d.map { $0 > wait }
            let tolerated: Bool
            switch scheme {
            case .none: tolerated = false  // every part is needed: wait for all
            case .gc: tolerated = slow.filter { $0 }.count <= s
            case .srsgc:
                tolerated = Self.admissible(res.stragglers, r, slow, burst: burst, window: window, lambda: lambda)
            }
            if tolerated {
                for i in 0..<n where slow[i] { result[i] = -1 }
                res.durations.append(wait * parts)
                res.stragglers.append(slow)
            } else {
                res.durations.append(d.max()! * parts)
                res.stragglers.append(Array(repeating: false, count: n))
            }
            task.append(result)
            // Decode.
            let job = scheme == .srsgc ? r - burst : r
            guard job >= 0, job < jobs else { continue }
            var have = (0..<n).filter { task[job][$0] == job }
            if scheme == .srsgc { have += (0..<n).filter { task[r][$0] == job } }
            if scheme == .none {
                if have.count == n { res.decodedAt[job] = r }
            } else if have.count >= n - s, let code, let dec = code.decoder(have) {
                res.decodedAt[job] = r
                res.residuals[job] = dec.residual
            }
        }
        return res
    }

    /// Delays of an admissible (B, W, λ)-bursty pattern: a worker starts straggling with probability p,
    /// continues a burst (≤ B rounds) with probability 0.7, whenever the model allows; stragglers take
    /// `slowdown`, the others 1 + a jitter below μ/2 (so the wait policy classifies them exactly).
    public static func burstyDelays(
        workers n: Int, rounds: Int, burst: Int, window: Int, lambda: Int, p: Double, slowdown: Double, mu: Double,
        rng: inout RandomGenerator
    ) -> [[Double]] {
        var history = [[Bool]]()
        var run = Array(repeating: 0, count: n)
        var delays = [[Double]]()
        for r in 0..<rounds {
            var st = Array(repeating: false, count: n)
            for i in 0..<n {
                let wants = run[i] > 0 && run[i] < burst ? rng.uniform() < 0.7 : rng.uniform() < p
                guard wants else { continue }
                st[i] = true
                if !admissible(history, r, st, burst: burst, window: window, lambda: lambda) { st[i] = false }
            }
            for i in 0..<n { run[i] = st[i] ? run[i] + 1 : 0 }
            history.append(st)
            delays.append((0..<n).map { st[$0] ? slowdown : 1 + rng.uniform() * mu / 2.5 })
        }
        return delays
    }
}
