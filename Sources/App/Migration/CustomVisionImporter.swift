import Fluent
import Foundation
import NIOConcurrencyHelpers
import Vapor

/// Copies projects from a Custom Vision Training API (Azure's, or another Sightline's) into
/// one account here: the project (domain mapped by id), its tags (type, description), and
/// every image's original bytes with its tags, regions and metadata, page by page, through
/// the same ingestion as uploads (so the account's quotas hold and what does not fit is
/// counted). Run it again after an interruption and it fills the same project, copying only
/// what is missing: images are matched by content hash, tags by name.
struct CustomVisionImporter: Sendable {
    let app: Application
    let source: CustomVisionSource
    let account: Account

    /// What one source project's copy has come to.
    struct ProjectReport: Sendable, Codable {
        var sourceID: String
        var name: String
        var targetID: String?
        /// waiting, copying, training, done or failed
        var state = "waiting"
        var imagesTotal = 0
        var copied = 0
        var alreadyThere = 0
        var didNotFit = 0
        var failed = 0
        var tagsNotCopied: [String] = []
        var notes: [String] = []
        var training: String?
        var imagesDone: Int { copied + alreadyThere + didNotFit + failed }
    }

    struct Report: Sendable, Codable {
        var projects: [ProjectReport] = []
        var throttled = 0
        var finished = false
        var cancelled = false
        var error: String?
    }

    /// The report as it changes; the importer writes, callers read.
    final class Progress: @unchecked Sendable {
        private let box = NIOLockedValueBox(Report())
        private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)
        var report: Report { box.withLockedValue { $0 } }
        func update(_ body: (inout Report) -> Void) { box.withLockedValue { body(&$0) } }
        /// The task running the import, which `cancel` cancels.
        func attach(_ running: Task<Void, Never>) { task.withLockedValue { $0 = running } }
        /// Stops the run: a download or a wait for the source ends at once; images already
        /// ingested are kept.
        func cancel() {
            update { $0.cancelled = true }
            task.withLockedValue { $0 }?.cancel()
        }
        var isCancelled: Bool { report.cancelled }
    }

    /// Images downloaded at once, then ingested in one transaction before the next are
    /// fetched: a run holds at most this many source images in memory, whatever page size
    /// the source answers with.
    static let batch = 4
    /// Azure's largest project holds 100,000 images; a source claiming more is not believed.
    static let maxImagesPerProject = 1_000_000

    static func normalise(endpoint: String) -> String {
        var e = endpoint.trimmingCharacters(in: .whitespaces).lowercased()
        while e.hasSuffix("/") { e.removeLast() }
        return e
    }

    /// Every source project, or those named; their copies, then (with `train`) a training
    /// of each copy reported beside the source's latest completed iteration.
    func run(projectIDs: [String], train: Bool, progress: Progress) async {
        do {
            let wanted = projectIDs.isEmpty ? try await source.projects().map(\.id) : projectIDs
            progress.update { r in r.projects = wanted.map { ProjectReport(sourceID: $0, name: $0) } }
            for (n, id) in wanted.enumerated() {
                if progress.isCancelled { progress.update { $0.projects[n].state = "cancelled" }; continue }
                do {
                    try await copy(id, index: n, train: train, progress: progress)
                } catch where progress.isCancelled {
                    progress.update { $0.projects[n].state = "cancelled"; $0.projects[n].notes.append("Cancelled; importing again copies only what is missing.") }
                } catch {
                    progress.update { $0.projects[n].state = "failed"; $0.projects[n].notes.append(Self.describe(error)) }
                }
            }
        } catch where progress.isCancelled {
        } catch {
            progress.update { $0.error = Self.describe(error) }
        }
        progress.update { $0.finished = true }
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? CVError { return "\(e.code): \(e.message)" }
        if let e = error as? QuotaLedger.Exceeded { let cv = CVError.quotaExceeded(e); return "\(cv.code): \(cv.message)" }
        return "\(error)"
    }

    private func copy(_ sourceID: String, index n: Int, train: Bool, progress: Progress) async throws {
        let sp = try await source.project(sourceID)
        progress.update { $0.projects[n].name = sp.name; $0.projects[n].state = "copying" }
        let project = try await targetProject(for: sp, progress: progress, index: n)
        progress.update { $0.projects[n].targetID = project.id!.uuidString.lowercased() }
        let tagMap = try await copyTags(from: sp.id, to: project, progress: progress, index: n)
        // A number from the source: range-checked before any arithmetic.
        let total = min(max(0, try await source.imageCount(sp.id)), Self.maxImagesPerProject)
        progress.update { $0.projects[n].imagesTotal = total }
        let ingestor = ImageIngestor(db: app.db, blobs: app.blobStore, decoder: app.decodePool, settings: app.settings)
        // Never more images than the source counted, nor pages than that count needs: a
        // source that keeps answering cannot keep a run going.
        var skip = 0, limitReached = false
        pages: for _ in 0..<max(1, (total + CustomVisionSource.pageSize - 1) / CustomVisionSource.pageSize) {
            let page = Array(try await source.images(sp.id, skip: skip).prefix(min(CustomVisionSource.pageSize, total - skip)))
            if page.isEmpty { break }
            skip += page.count
            for start in stride(from: 0, to: page.count, by: Self.batch) {
                if progress.isCancelled { break pages }
                let chunk = Array(page[start..<min(start + Self.batch, page.count)])
                let outcomes = try await ingest(chunk, bytes: await download(chunk), tagMap: tagMap, project: project, ingestor: ingestor)
                progress.update { r in
                    for o in outcomes {
                        switch o.status {
                        case "OK": r.projects[n].copied += 1
                        case "OKDuplicate": r.projects[n].alreadyThere += 1
                        case "ErrorLimitExceed": r.projects[n].didNotFit += 1
                        default: r.projects[n].failed += 1
                        }
                    }
                }
                // The project is full: the rest cannot fit either.
                if outcomes.contains(where: { $0.status == "ErrorLimitExceed" }) { limitReached = true; break pages }
            }
            if page.count < CustomVisionSource.pageSize { break }
        }
        if progress.isCancelled {
            progress.update { $0.projects[n].state = "cancelled"; $0.projects[n].notes.append("Cancelled; importing again copies only what is missing.") }
            return
        }
        if limitReached {
            let left = total - progress.report.projects[n].imagesDone
            progress.update { $0.projects[n].didNotFit += max(0, left) }
        }
        let done = progress.report.projects[n]
        if done.didNotFit > 0 {
            progress.update { $0.projects[n].notes.append("\(done.didNotFit) images did not fit this account's image limit per project.") }
        }
        if train {
            progress.update { $0.projects[n].state = "training" }
            let summary = try await trainAndCompare(project, sourceID: sp.id)
            progress.update { $0.projects[n].training = summary }
        }
        progress.update { $0.projects[n].state = "done" }
    }

    /// One batch of source images through the same ingestion as uploads; images that share
    /// metadata go in together (the ingestion takes metadata per batch).
    private func ingest(_ images: [CustomVisionSource.Image], bytes: [Result<Data, Error>], tagMap: [String: UUID], project: Project,
                        ingestor: ImageIngestor) async throws -> [IngestOutcome] {
        var items: [(IngestItem, [String: String])] = []
        for (image, data) in zip(images, bytes) {
            var item = IngestItem(sourceURL: image.originalImageUri)
            switch data {
            case .success(let d): item.data = d
            case .failure: item.failure = "ErrorSource"
            }
            item.tagIDs = (image.tags ?? []).compactMap { tagMap[$0.tagId]?.uuidString }
            item.regions = (image.regions ?? []).compactMap { r in
                tagMap[r.tagId].map { RegionBox(tagId: $0.uuidString, left: r.left, top: r.top, width: r.width, height: r.height) }
            }.filter(\.isValid)
            items.append((item, image.metadata ?? [:]))
        }
        let groups = Dictionary(grouping: items.indices) { items[$0].1.sorted { $0.key < $1.key }.map { "\($0.key)\u{0}\($0.value)" }.joined(separator: "\u{1}") }
        var outcomes: [IngestOutcome] = []
        for (_, indices) in groups.sorted(by: { $0.value[0] < $1.value[0] }) {
            outcomes += try await ingestor.ingest(account: account, project: project, items: indices.map { items[$0].0 },
                                                  batchTagIDs: [], metadata: items[indices[0]].1)
        }
        return outcomes
    }

    /// The project an earlier run made for this source project, or a new one.
    private func targetProject(for sp: CustomVisionSource.Project, progress: Progress, index n: Int) async throws -> Project {
        let endpoint = Self.normalise(endpoint: source.endpoint)
        if let link = try await ImportedProject.query(on: app.db).filter(\.$accountID == account.id!)
            .filter(\.$sourceEndpoint == endpoint).filter(\.$sourceProjectID == sp.id).first(),
           let existing = try await Project.find(link.projectID, on: app.db) {
            return existing
        }
        let catalog = app.domainCatalog
        var domain = sp.settings?.domainId.flatMap(UUID.init(uuidString:)).flatMap(catalog.domain)
        if domain == nil {
            domain = catalog.domain(DomainCatalog.generalClassification)
            progress.update { $0.projects[n].notes.append("Its domain \(sp.settings?.domainId ?? "(none)") is not offered here; the copy uses General (classification).") }
        }
        let platforms = (sp.settings?.targetExportPlatforms ?? []).filter { ProjectService.exportPlatforms.contains($0) }
        let changes = ProjectChanges(domainID: domain!.id.uuidString,
                                     classificationType: domain!.isObjectDetection ? nil : sp.settings?.classificationType,
                                     targetExportPlatforms: domain!.exportable ? platforms : [])
        let description = (sp.description ?? "").filter { !$0.isASCII || $0.asciiValue! >= 32 || $0 == "\n" }
        let project = try await ProjectService(db: app.db, domains: catalog).create(
            account: account, name: String(sp.name.prefix(256)), description: String(description.prefix(4096)), changes: changes)
        let link = ImportedProject()
        link.accountID = account.id!; link.projectID = project.id!; link.sourceEndpoint = endpoint
        link.sourceProjectID = sp.id; link.createdAt = Date()
        try await link.create(on: app.db)
        return project
    }

    /// Source tag id → tag here; tags already here (by name) are reused.
    private func copyTags(from sourceID: String, to project: Project, progress: Progress, index n: Int) async throws -> [String: UUID] {
        let service = TagService(db: app.db)
        var byName: [String: UUID] = [:]
        for t in try await service.list(project: project) { byName[t.nameKey] = t.id! }
        var map: [String: UUID] = [:]
        for t in try await source.tags(sourceID) {
            if let id = byName[t.name.lowercased()] { map[t.id] = id; continue }
            do {
                let made = try await service.create(account: account, project: project, name: t.name, description: t.description,
                                                    type: t.type)
                map[t.id] = made.id!
                byName[made.nameKey] = made.id!
            } catch {
                progress.update { $0.projects[n].tagsNotCopied.append(t.name); $0.projects[n].notes.append("Tag '\(t.name)': \(Self.describe(error))") }
            }
        }
        return map
    }

    /// Original bytes for a batch, all at once.
    private func download(_ page: [CustomVisionSource.Image]) async -> [Result<Data, Error>] {
        var out = [Result<Data, Error>?](repeating: nil, count: page.count)
        let source = self.source
        await withTaskGroup(of: (Int, Result<Data, Error>).self) { group in
            var next = 0
            func start() {
                guard next < page.count else { return }
                let i = next
                next += 1
                group.addTask {
                    guard let uri = page[i].originalImageUri else { return (i, .failure(CustomVisionSource.Failure(description: "no originalImageUri"))) }
                    do { return (i, .success(try await source.download(uri))) } catch { return (i, .failure(error)) }
                }
            }
            for _ in 0..<Self.batch { start() }
            while let (i, r) = await group.next() {
                out[i] = r
                start()
            }
        }
        return out.map { $0 ?? .failure(CustomVisionSource.Failure(description: "not downloaded")) }
    }

    /// Trains the copy (unless nothing changed since its last training) and says how its
    /// metrics compare with the source's latest completed iteration.
    private func trainAndCompare(_ project: Project, sourceID: String) async throws -> String {
        let service = TrainingService(db: app.db)
        var iteration: Iteration
        do {
            iteration = try await service.train(account: account, project: project, trainingType: "Regular", budgetHours: 0, force: false)
        } catch let e as CVError where e.code == "BadRequestTrainingNotNeeded" {
            guard let last = try await service.iterations(project).first(where: { $0.status == "Completed" }) else { throw e }
            iteration = last
        }
        while iteration.status == "Training" {
            try await Task.sleep(nanoseconds: 500_000_000)
            guard let now = try await Iteration.find(iteration.id, on: app.db) else { return "The iteration was deleted while it trained." }
            iteration = now
        }
        guard iteration.status == "Completed" else { return "\(iteration.name) \(iteration.status): \(iteration.errorDetails ?? "")" }
        let here = try metrics(iteration, service: service)
        var line = "\(iteration.name): precision \(Self.percent(here.0)), recall \(Self.percent(here.1)), AP \(Self.percent(here.2))"
        if let latest = try? await source.iterations(sourceID).first(where: { $0.status == "Completed" }),
           let theirs = try? await source.performance(sourceID, iteration: latest.id) {
            line += "; source \(latest.name): precision \(Self.percent(theirs.precision)), recall \(Self.percent(theirs.recall)), AP \(Self.percent(theirs.averagePrecision))"
        } else {
            line += "; the source has no completed iteration to compare with"
        }
        return line
    }

    private func metrics(_ it: Iteration, service: TrainingService) throws -> (Double?, Double?, Double?) {
        if let detection = try service.detectionReport(it) {
            let s = detection.summary(threshold: 0.5, overlap: 0.3)
            return (Double(s.precision), Double(s.recall), Double(s.meanAveragePrecision))
        }
        let (_, s) = try service.performance(it, threshold: 0.5)
        return (Double(s.precision), Double(s.recall), Double(s.averagePrecision))
    }

    static func percent(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0 * 100) } ?? "–" }
}
