import Metrics
import NIOConcurrencyHelpers
import Prometheus
import Vapor

/// Prometheus exposition of swift-metrics (Vapor reports request counts and timings
/// through it once a backend is bootstrapped; the backend can be set once per process).
enum MetricsEndpoint {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = NIOLockedValueBox(false)

    static func bootstrapOnce() {
        bootstrapped.withLockedValue { done in
            guard !done else { return }
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            done = true
        }
    }

    static func response() -> Response {
        let res = Response(status: .ok, body: .init(string: registry.emitToString()))
        res.headers.replaceOrAdd(name: .contentType, value: "text/plain; version=0.0.4; charset=utf-8")
        return res
    }
}
