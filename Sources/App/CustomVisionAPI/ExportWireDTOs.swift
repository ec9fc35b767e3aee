import Vapor

struct WireExport: Content {
    var platform: String
    var status: String
    @NullEncoded var downloadUri: String?
    @NullEncoded var flavor: String?
    var newerVersionAvailable: Bool

    /// `downloadUri` is a signed, expiring Sightline URL, present once the export is Done.
    init(_ e: Export, signer: BlobSigner, base: String) {
        platform = e.platform; status = e.status; flavor = e.flavor.isEmpty ? nil : e.flavor; newerVersionAvailable = false
        downloadUri = e.status == "Done" ? e.blobHash.map { signer.url(hash: $0, base: base) } : nil
    }
}
