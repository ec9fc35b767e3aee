import CArgon2
import Foundation

/// Argon2id through libargon2 with DESIGN §3's parameters; stores PHC strings.
enum PasswordHasher {
    static let timeCost: UInt32 = 2
    static let memoryKiB: UInt32 = 19 * 1024
    static let lanes: UInt32 = 1
    static let saltLength = 16
    static let hashLength = 32

    struct HashingFailed: Error, CustomStringConvertible {
        let code: Int32
        var description: String { "argon2 failed: \(String(cString: argon2_error_message(code)))" }
    }

    static func hash(_ password: String) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let pwd = Array(password.utf8)
        let encodedLength = argon2_encodedlen(timeCost, memoryKiB, lanes, UInt32(saltLength), UInt32(hashLength), Argon2_id)
        var out = [CChar](repeating: 0, count: encodedLength)
        let rc = argon2id_hash_encoded(timeCost, memoryKiB, lanes, pwd, pwd.count, salt, salt.count,
                                       hashLength, &out, encodedLength)
        guard rc == ARGON2_OK.rawValue else { throw HashingFailed(code: rc) }
        return String(cString: out)
    }

    static func verify(_ password: String, encoded: String) -> Bool {
        let pwd = Array(password.utf8)
        return argon2id_verify(encoded, pwd, pwd.count) == ARGON2_OK.rawValue
    }
}
