import Fluent

/// Which rows point at a blob: images (original, resized, thumbnail) and their copies in
/// training sets, trained models, stored predictions and exports. Asked for one blob right before it is served or deleted.
struct BlobReferences {
    let db: Database

    func isReferenced(_ hash: String) async throws -> Bool {
        if try await ImageRecord.query(on: db).group(.or, {
            $0.filter(\.$originalHash == hash).filter(\.$resizedHash == hash).filter(\.$thumbnailHash == hash)
        }).first() != nil { return true }
        if try await TrainedImage.query(on: db).group(.or, {
            $0.filter(\.$originalHash == hash).filter(\.$resizedHash == hash).filter(\.$thumbnailHash == hash)
        }).first() != nil { return true }
        if try await Iteration.query(on: db).filter(\.$modelHash == hash).first() != nil { return true }
        if try await StoredPrediction.query(on: db).filter(\.$blobHash == hash).first() != nil { return true }
        return try await Export.query(on: db).filter(\.$blobHash == hash).first() != nil
    }

    /// Every referenced blob, for a whole-store sweep.
    func all() async throws -> Set<String> {
        var referenced = Set<String>()
        for img in try await ImageRecord.query(on: db).all() {
            referenced.insert(img.originalHash); referenced.insert(img.resizedHash); referenced.insert(img.thumbnailHash)
        }
        // Hashes only: these rows also carry each image's tags and regions as JSON.
        for img in try await TrainedImage.query(on: db).field(\.$originalHash).field(\.$resizedHash).field(\.$thumbnailHash).all() {
            referenced.insert(img.originalHash); referenced.insert(img.resizedHash); referenced.insert(img.thumbnailHash)
        }
        for it in try await Iteration.query(on: db).filter(\.$modelHash != nil).all() { referenced.insert(it.modelHash!) }
        for p in try await StoredPrediction.query(on: db).all() { referenced.insert(p.blobHash) }
        for e in try await Export.query(on: db).filter(\.$blobHash != nil).all() { referenced.insert(e.blobHash!) }
        return referenced
    }
}
