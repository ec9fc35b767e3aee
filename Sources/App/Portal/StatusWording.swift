import Vapor

/// Words people read in place of the service's codes: upload outcomes, iteration and
/// export states, HTTP statuses. The API keeps the codes; the portal says what they mean.
enum StatusWording {
    /// One uploaded file's outcome (`ImageCreateResult.status`).
    static func upload(_ code: String) -> String {
        switch code {
        case "OK": return "Added"
        case "OKDuplicate": return "Already in the project, skipped"
        case "ErrorImageFormat": return "Not an image we can read (JPEG, PNG, BMP, GIF or WebP)"
        case "ErrorImageSize": return "File too large"
        case "ErrorImageDimensions": return "Image dimensions refused (too large, too many pixels, or too narrow)"
        case "ErrorLimitExceed": return "The project holds as many images as its tier allows"
        case "ErrorTagLimitExceed": return "Too many tags on one image"
        case "ErrorRegionLimitExceed": return "Too many boxes on one image"
        case "ErrorInvalidTag": return "A chosen tag no longer exists"
        case "ErrorNegativeAndRegularTagOnSameImage": return "Negative cannot be combined with other tags"
        case "ErrorSource": return "The image could not be fetched"
        case "ErrorStorage": return "Storage is unavailable; try again"
        default: return "Not added (\(code))"
        }
    }

    /// An iteration's status as the portal shows it.
    static func iteration(_ status: String) -> String {
        switch status {
        case "Completed": return "Completed"
        case "Training": return "Training"
        case "Queued": return "Waiting to train"
        case "Failed": return "Failed"
        case "Cancelled", "Canceled": return "Cancelled"
        default: return status
        }
    }

    static func trainingType(_ t: String) -> String {
        t == "Advanced" ? "Advanced" : "Quick"
    }

    /// An error page's heading.
    static func title(_ status: HTTPResponseStatus) -> String {
        switch status.code {
        case 400: return "That request could not be used"
        case 403: return "Not allowed"
        case 404: return "Page not found"
        case 409: return "That conflicts with the current state"
        case 413: return "Too large"
        case 415: return "Unsupported file"
        case 429: return "Too many requests"
        case 503: return "Temporarily unavailable"
        case 500...: return "Something went wrong"
        default: return status.reasonPhrase
        }
    }
}
