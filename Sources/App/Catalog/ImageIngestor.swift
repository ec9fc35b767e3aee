import Fluent
import Vapor
import VisionEngine

/// One image offered for creation, from any of the create routes.
struct IngestItem: Sendable {
    var data: Data?
    var sourceURL: String?
    var tagIDs: [String] = []
    var regions: [RegionBox] = []
    /// Set when the bytes could not be obtained (e.g. a URL that failed to fetch).
    var failure: String?
}

/// The outcome for one image, in Custom Vision's ImageCreateStatus terms.
struct IngestOutcome: Sendable {
    var status: String
    var image: ImageRecord?
    var sourceURL: String?
}

/// Validates, decodes, stores and records images. Blobs are made durable before the
/// transaction that inserts rows; the images-per-project quota is reserved in that same
/// transaction, so a batch crossing the limit stores exactly up to it.
struct ImageIngestor {
    let db: Database
    let blobs: any BlobStore
    let decoder: DecodePool
    let settings: Settings

    static let maxBatch = 64
    static let maxTagsPerImage = 100
    static let maxRegionsPerImage = 300
    static let resizedSide = 1024
    static let thumbnailSide = 256

    private struct Prepared: Sendable {
        var index: Int
        var hash: String
        var resizedHash: String
        var thumbnailHash: String
        var format: String
        var width: Int
        var height: Int
        var tagIDs: [UUID]
        var regions: [RegionBox]
        /// The three blobs' bytes, kept again right before the rows commit.
        var bytes: [Data]
        var blobHashes: [String] { [hash, resizedHash, thumbnailHash] }
    }

    func ingest(account: Account, project: Project, items: [IngestItem], batchTagIDs: [String],
                metadata: [String: String]) async throws -> [IngestOutcome] {
        guard !items.isEmpty, items.count <= Self.maxBatch else {
            throw CVError.badRequest("BadRequestImageBatch", "A batch holds 1 to \(Self.maxBatch) images; this one has \(items.count).")
        }
        try Self.validate(metadata: metadata)
        try StorageSpace.refuseWritesIfLow(settings: settings)
        let tags = Dictionary(try await Tag.query(on: db).filter(\.$projectID == project.id!).all().map { ($0.id!, $0) },
                              uniquingKeysWith: { a, _ in a })
        var outcomes = items.map { IngestOutcome(status: "ErrorUnknown", image: nil, sourceURL: $0.sourceURL) }
        var prepared: [Prepared] = []
        var seen: [String: Int] = [:]    // hash → index in `prepared`
        var copies: [Int: Int] = [:]     // item index → index in `prepared` of its first copy

        for (i, item) in items.enumerated() {
            if let f = item.failure { outcomes[i].status = f; continue }
            guard let data = item.data else { outcomes[i].status = "ErrorSource"; continue }
            // Tags and regions first: cheap, and no bytes are stored for a refused image.
            let tagStatus = Self.checkTags(item.tagIDs + batchTagIDs, regions: item.regions, known: tags)
            guard case .success(let tagIDs) = tagStatus else {
                if case .failure(let status) = tagStatus { outcomes[i].status = status.rawValue }
                continue
            }
            let decoded: Result<(header: ImageHeader, resized: Data, thumbnail: Data), ImageStatusError> = try await decoder.run(account: account.id!) {
                do {
                    let header = try ImageDecoder.probe(data)
                    let resized = try ImageDecoder.jpegVariant(data, maxSide: Self.resizedSide)
                    // The thumbnail comes from the resized copy: one full decode per upload.
                    let thumb = try ImageDecoder.jpegVariant(resized.jpeg, maxSide: Self.thumbnailSide)
                    return .success((header, resized.jpeg, thumb.jpeg))
                } catch let e as ImageDecodeError {
                    switch e {
                    case .unsupportedFormat, .corrupt: return .failure(.init(status: "ErrorImageFormat"))
                    case .dimensions: return .failure(.init(status: "ErrorImageDimensions"))
                    case .tooManyBytes: return .failure(.init(status: "ErrorImageSize"))
                    }
                } catch {
                    return .failure(.init(status: "ErrorStorage"))
                }
            }
            let result: Result<Prepared, ImageStatusError>
            switch decoded {
            case .failure(let e): result = .failure(e)
            case .success(let d):
                let bytes = [data, d.resized, d.thumbnail]
                do {
                    let hashes = try await blobs.put(bytes)
                    result = .success(Prepared(index: i, hash: hashes[0], resizedHash: hashes[1], thumbnailHash: hashes[2],
                                               format: d.header.format.rawValue, width: d.header.width, height: d.header.height,
                                               tagIDs: tagIDs, regions: item.regions, bytes: bytes))
                } catch let e where !(e is BlobStoreUnavailable || e is CancellationError) {
                    // A local disk that failed this write: this image's status says so; a shared
                    // store out of reach fails the whole request (503), to be retried.
                    result = .failure(.init(status: "ErrorStorage"))
                }
            }
            switch result {
            case .failure(let e): outcomes[i].status = e.status
            case .success(let p):
                if let first = seen[p.hash] {
                    // The same bytes twice in one batch: the copy points at the first one's image.
                    outcomes[i].status = "OKDuplicate"
                    copies[i] = first
                    continue
                }
                seen[p.hash] = prepared.count
                prepared.append(p)
            }
        }

        // A batch's decodes can take long. Its blobs are kept again now, right before the rows
        // commit: refreshed if there, written again if a sweep or a freed delete took them meanwhile.
        try await blobs.keep(prepared.flatMap { zip($0.blobHashes, $0.bytes).map { (hash: $0.0, data: $0.1) } })
        let stored = try await insert(prepared, account: account, project: project, metadata: metadata)
        for p in prepared {
            if let (status, image) = stored[p.index] {
                outcomes[p.index].status = status
                outcomes[p.index].image = image
            } else {
                outcomes[p.index].status = "ErrorLimitExceed"
            }
        }
        for (i, first) in copies {
            outcomes[i].image = stored[prepared[first].index]?.1
            if outcomes[i].image == nil { outcomes[i].status = "ErrorLimitExceed" }
        }
        return outcomes
    }

    private struct ImageStatusError: Error { let status: String }

    enum TagStatus: String, Error { case invalid = "ErrorInvalidTag", tooMany = "ErrorTagLimitExceed",
                                         regions = "ErrorRegionLimitExceed", mixed = "ErrorNegativeAndRegularTagOnSameImage" }

    static func checkTags(_ raw: [String], regions: [RegionBox], known: [UUID: Tag]) -> Result<[UUID], TagStatus> {
        var ids: [UUID] = []
        for r in raw {
            guard let id = UUID(uuidString: r), known[id] != nil else { return .failure(.invalid) }
            if !ids.contains(id) { ids.append(id) }
        }
        for region in regions {
            guard let id = UUID(uuidString: region.tagId), known[id] != nil else { return .failure(.invalid) }
        }
        if ids.count > maxTagsPerImage { return .failure(.tooMany) }
        if regions.count > maxRegionsPerImage { return .failure(.regions) }
        let types = Set(ids.compactMap { known[$0]?.type })
        if types.contains(.negative) && types.count > 1 { return .failure(.mixed) }
        return .success(ids)
    }

    static func validate(metadata: [String: String]) throws {
        guard metadata.count <= 50 else {
            throw CVError.badRequest("BadRequestImageMetadataKey", "At most 50 metadata pairs per image.")
        }
        for (k, v) in metadata {
            guard !k.isEmpty, k.count <= 256, !TextRules.hasControlCharacters(k) else {
                throw CVError.badRequest("BadRequestImageMetadataKey", "Metadata keys have 1 to 256 characters.")
            }
            guard v.count <= 512, !TextRules.hasControlCharacters(v) else {
                throw CVError.badRequest("BadRequestImageMetadataValue", "Metadata values have at most 512 characters.")
            }
        }
    }

    /// Inserts rows for the prepared images that fit the quota; returns index → (status, row).
    private func insert(_ prepared: [Prepared], account: Account, project: Project,
                        metadata: [String: String]) async throws -> [Int: (String, ImageRecord)] {
        guard !prepared.isEmpty else { return [:] }
        for attempt in 0..<3 {
            do {
                return try await db.transaction { tx in
                    // Lock the project's image counter first: batches for one project
                    // serialise here, before they look for duplicates.
                    _ = try await QuotaLedger.lock(.imagesPerProject, account: account, project: project.id, on: tx)
                    let hashes = prepared.map(\.hash)
                    var existing: [String: ImageRecord] = [:]
                    for row in try await ImageRecord.query(on: tx).filter(\.$projectID == project.id!)
                        .filter(\.$originalHash ~~ hashes).all() { existing[row.originalHash] = row }
                    let fresh = prepared.filter { existing[$0.hash] == nil }
                    let granted = try await QuotaLedger.reserve(.imagesPerProject, account: account, project: project.id,
                                                                upTo: fresh.count, on: tx)
                    var out: [Int: (String, ImageRecord)] = [:]
                    for p in prepared where existing[p.hash] != nil { out[p.index] = ("OKDuplicate", existing[p.hash]!) }
                    let now = Date()
                    for (n, p) in fresh.prefix(granted).enumerated() {
                        let img = ImageRecord()
                        img.id = UUID()
                        img.projectID = project.id!
                        img.originalHash = p.hash; img.resizedHash = p.resizedHash; img.thumbnailHash = p.thumbnailHash
                        img.format = p.format; img.width = p.width; img.height = p.height
                        img.metadata = metadata
                        // Distinct timestamps keep Newest/Oldest ordering stable within a batch.
                        img.createdAt = now.addingTimeInterval(Double(n) * 0.001)
                        try await img.create(on: tx)
                        for t in p.tagIDs {
                            try await ImageTagLink(imageID: img.id!, tagID: t, projectID: project.id!, at: img.createdAt).create(on: tx)
                        }
                        for r in p.regions {
                            let region = ImageRegion()
                            region.imageID = img.id!; region.tagID = UUID(uuidString: r.tagId)!; region.projectID = project.id!
                            region.left = r.left; region.top = r.top; region.width = r.width; region.height = r.height
                            region.createdAt = img.createdAt
                            try await region.create(on: tx)
                        }
                        out[p.index] = ("OK", img)
                    }
                    return out
                }
            } catch let e where (e as? DatabaseError)?.isConstraintFailure == true && attempt < 2 {
                // A concurrent batch stored the same bytes first: retry, they are duplicates now.
                continue
            }
        }
        throw CVError(.conflict, "Conflict", "Concurrent uploads of the same images; retry.")
    }
}
