import Foundation

/// Limited-memory BFGS with a backtracking (Armijo) line search, for the heads' smooth
/// convex objectives. Deterministic: same start, same steps.
enum LBFGS {
    /// Stops when the gradient norm falls below `gradientTolerance` times
    /// `referenceGradientNorm` (default: the norm at `x0`; a warm start passes the norm at
    /// the cold start, so that starting closer does not demand a tighter solution).
    static func minimise(_ x0: [Float], memory m: Int = 10, maxIterations: Int = 300, gradientTolerance: Double = 1e-5,
                         referenceGradientNorm: Double? = nil,
                         objective: ([Float]) -> (value: Double, gradient: [Float])) -> (x: [Float], value: Double, iterations: Int) {
        var x = x0
        var (f, g) = objective(x)
        var s: [[Float]] = [], y: [[Float]] = [], rho: [Double] = []
        let g0 = max(referenceGradientNorm ?? norm(g), 1e-12)
        var iteration = 0
        while iteration < maxIterations {
            if norm(g) <= gradientTolerance * g0 { break }
            // Two-loop recursion: direction = −H·g.
            var q = g.map(Double.init)
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                for j in 0..<q.count { q[j] -= alpha[i] * Double(y[i][j]) }
            }
            if let ls = s.last, let ly = y.last {
                let gamma = dot(ls, ly) / max(dot(ly, ly), 1e-30)
                for j in 0..<q.count { q[j] *= gamma }
            } else {
                let scale = 1 / max(norm(g), 1e-12)
                for j in 0..<q.count { q[j] *= scale }
            }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                for j in 0..<q.count { q[j] += Double(s[i][j]) * (alpha[i] - beta) }
            }
            var direction = q.map { Float(-$0) }
            var slope = dot(g, direction)
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                s.removeAll(); y.removeAll(); rho.removeAll()
                direction = g.map { -$0 / Float(max(norm(g), 1e-12)) }
                slope = dot(g, direction)
            }
            var step = 1.0
            var accepted = false
            var xNew = x, fNew = f, gNew = g
            for _ in 0..<30 {
                for j in 0..<x.count { xNew[j] = x[j] + Float(step) * direction[j] }
                (fNew, gNew) = objective(xNew)
                if fNew.isFinite && fNew <= f + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            if !accepted { break }
            let sk = zip(xNew, x).map { $0 - $1 }, yk = zip(gNew, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > m { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let improvement = f - fNew
            x = xNew; f = fNew; g = gNew
            iteration += 1
            if improvement >= 0 && improvement < 1e-10 * max(1, abs(f)) { break }
        }
        return (x, f, iteration)
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
        return s
    }

    static func dot(_ a: [Float], _ b: [Double]) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * b[i] }
        return s
    }

    static func norm(_ a: [Float]) -> Double { dot(a, a).squareRoot() }
}
