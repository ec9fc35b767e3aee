import Fluent

/// Every migration in order. `tiers` comes from `config/tiers.json`.
public func sightlineMigrations(tiers: [TierSeed]) -> [Migration] {
    [
        M0001_CreateUsers(),
        SessionRecord.migration,
        M0002_CreateTiers(),
        M0003_CreateAccounts(),
        M0004_CreateAccountKeys(),
        M0005_CreateAccountOverrides(),
        M0006_CreateQuotaUsage(),
        M0007_CreateProjects(),
        M0008_CreateTags(),
        M0009_CreateAdminTokens(),
        M0010_CreateAuditLog(),
        M0011_CreateSignInFailures(),
        M0012_SeedTiers(tiers: tiers),
        M0013_CreateRateWindows(),
        M0014_CreateImages(),
        M0015_CreateImageTags(),
        M0016_CreateImageRegions(),
        M0017_CreateIterations(),
        M0018_CreateJobs(),
        M0019_CreateFeatures(),
        M0020_CreatePredictions(),
        M0021_CreateExports(),
        M0022_StoredPredictionLimit(tiers: tiers),
        M0023_CreateSignInThrottle(),
        M0024_AdminTokenExpiry(),
        M0025_BlobReferenceIndexes(),
        M0026_DropCentreCropFeatures(),
        M0027_DropLibvipsResizedFeatures(),
        M0028_ProjectCreateOptions(),
        M0029_TrainingRateLimit(tiers: tiers),
        M0030_CreateTrainingSets(),
        M0031_ProjectImports(),
    ]
}
