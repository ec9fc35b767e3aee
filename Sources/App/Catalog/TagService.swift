import Fluent
import Vapor

/// Tags of one project: unique names (case-insensitive), at most one Negative and one
/// GeneralProduct, and the tags-per-project quota through the QuotaLedger.
struct TagService {
    let db: Database

    func list(project: Project) async throws -> [Tag] {
        try await Tag.query(on: db).filter(\.$projectID == project.id!).sort(\.$createdAt).all()
    }

    func find(project: Project, id: String) async throws -> Tag {
        guard let uuid = UUID(uuidString: id), let t = try await Tag.find(uuid, on: db),
              t.projectID == project.id else { throw CVError.tagNotFound }
        return t
    }

    func create(account: Account, project: Project, name: String, description: String?, type: String?) async throws -> Tag {
        let tag = Tag()
        tag.projectID = project.id!
        tag.description = ""
        tag.type = .regular
        try validate(tag, name: name, description: description, type: type)
        do {
            try await db.transaction { tx in
                try await QuotaLedger.consume(.tagsPerProject, account: account, project: project.id, on: tx)
                try await checkUnique(tag, on: tx)
                try await tag.create(on: tx)
            }
        } catch let e where (e as? DatabaseError)?.isConstraintFailure == true {
            try await checkUnique(tag, on: db)
            throw e
        }
        return tag
    }

    func update(project: Project, id: String, name: String?, description: String?, type: String?) async throws -> Tag {
        defer { PublishedModels.shared.invalidateAll() }   // predictions name their tags
        let tag = try await find(project: project, id: id)
        try validate(tag, name: name, description: description, type: type)
        do {
            try await checkUnique(tag, on: db)
            try await tag.save(on: db)
        } catch let e where (e as? DatabaseError)?.isConstraintFailure == true {
            try await checkUnique(tag, on: db)
            throw e
        }
        return tag
    }

    func delete(account: Account, project: Project, id: String) async throws {
        defer { PublishedModels.shared.invalidateAll() }
        let tag = try await find(project: project, id: id)
        try await db.transaction { tx in
            try await QuotaLedger.release(.tagsPerProject, account: account, project: project.id, on: tx)
            // The cascade to the tag's image tags and regions fires the label triggers.
            try await ImageService.lockImages(carrying: tag.id!, on: tx)
            try await tag.delete(on: tx)
        }
    }

    private func validate(_ tag: Tag, name: String?, description: String?, type: String?) throws {
        if let name {
            guard TextRules.validName(name, max: 256) else {
                throw CVError.badRequest("BadRequestTagName", "Tag name must be 1 to 256 characters without control characters.")
            }
            tag.setName(name.trimmingCharacters(in: .whitespaces))
        }
        if let description {
            guard TextRules.validDescription(description, max: 1024) else {
                throw CVError.badRequest("BadRequestTagDescription", "Tag description must be at most 1024 characters without control characters.")
            }
            tag.description = description
        }
        if let type, !type.isEmpty {
            guard let t = TagType(wire: type) else {
                throw CVError.badRequest("BadRequestTagType", "Unknown tag type '\(type.prefix(64))'; use Regular, Negative or GeneralProduct.")
            }
            tag.type = t
        }
    }

    /// Explains a uniqueness conflict in Custom Vision's terms (also after the index caught it).
    private func checkUnique(_ tag: Tag, on db: Database) async throws {
        var q = Tag.query(on: db).filter(\.$projectID == tag.projectID).filter(\.$nameKey == tag.nameKey)
        if let id = tag.id { q = q.filter(\.$id != id) }
        if try await q.count() > 0 {
            throw CVError.badRequest("BadRequestTagNameNotUnique", "A tag named '\(tag.name)' already exists in this project.")
        }
        if let ex = tag.exclusiveType {
            var q2 = Tag.query(on: db).filter(\.$projectID == tag.projectID).filter(\.$exclusiveType == ex)
            if let id = tag.id { q2 = q2.filter(\.$id != id) }
            if try await q2.count() > 0 {
                throw tag.type == .negative
                    ? CVError.badRequest("BadRequestMultipleNegativeTag", "A project can have only one Negative tag.")
                    : CVError.badRequest("BadRequestMultipleGeneralProductTag", "A project can have only one GeneralProduct tag.")
            }
        }
    }
}
