import Vapor

/// Serves `Public/` through Vapor's `FileMiddleware`, but never asks the file system about
/// a path it would refuse: a segment longer than a file name may be (255 bytes) made the
/// lookup fail with `ENAMETOOLONG`, answered as a 500 (as does a path past PATH_MAX). Such paths go on to the routes,
/// which answer 404.
struct PublicFiles: AsyncMiddleware {
    let files: FileMiddleware

    init(publicDirectory: String) { files = FileMiddleware(publicDirectory: publicDirectory) }

    static let maxNameBytes = 255
    /// Well under PATH_MAX once `Public/` is put in front.
    static let maxPathBytes = 1024

    func respond(to request: Request, chainingTo next: AsyncResponder) async throws -> Response {
        let path = request.url.path
        if path.utf8.count > Self.maxPathBytes || path.split(separator: "/").contains(where: { $0.utf8.count > Self.maxNameBytes }) {
            return try await next.respond(to: request)
        }
        return try await files.respond(to: request, chainingTo: next)
    }
}
