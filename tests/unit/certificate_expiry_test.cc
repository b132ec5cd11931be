// Certificate expiry warnings and errors, with certificates made for each test (OpenSSL API,
// validity periods of days), and the TLS 1.3-only OpenSSL configuration every credential gets.
#include "core/certificate_expiry.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

#include "core/tls.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::Contains;

// A self-signed certificate valid from `from` to `until` days from now, as PEM.
std::string MakeCertificate(const std::string& name, long from, long until) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), from * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), until * 86400);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(out.get(), cert.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

class CertificateExpiryTest : public ::testing::Test {
 protected:
  // DIR/ca.crt valid for `ca_days` more days and DIR/agent.crt for `own_days` more days.
  TlsFiles Write(long own_days, long ca_days) {
    TlsFiles files = TlsFiles::FromPkiDir(dir_.path(), "agent");
    test::WriteFile(files.ca, MakeCertificate("ca", -10, ca_days));
    test::WriteFile(files.cert, MakeCertificate("agent", -10, own_days));
    return files;
  }
  // The expiry date of a certificate file, as the messages print it.
  static std::string Expiry(const fs::path& path) {
    absl::StatusOr<CertificateValidity> validity =
        ParseCertificateValidity(path, test::ReadFile(path));
    EXPECT_TRUE(validity.ok()) << validity.status();
    return FormatCertificateDate(validity->not_after);
  }

  test::TempDir dir_;
};

TEST_F(CertificateExpiryTest, WarnsOfTheOwnCertificateWithinTheWindowNamingTheFileAndTheDate) {
  const TlsFiles files = Write(10, 400);
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  ASSERT_EQ(warnings->size(), 1u);
  const std::string& warning = warnings->front();
  EXPECT_TRUE(
      Contains(warning, "certificate " + files.cert.string() + " expires on " + Expiry(files.cert)))
      << warning;
  EXPECT_TRUE(Contains(warning, "(in 9 days)") || Contains(warning, "(in 10 days)")) << warning;
  EXPECT_FALSE(Contains(warning, "CA")) << warning;
}

TEST_F(CertificateExpiryTest, WarnsOfTheCaCertificate) {
  const TlsFiles files = Write(400, 20);
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  ASSERT_EQ(warnings->size(), 1u);
  EXPECT_TRUE(Contains(warnings->front(),
                       "CA certificate " + files.ca.string() + " expires on " + Expiry(files.ca)))
      << warnings->front();
}

TEST_F(CertificateExpiryTest, NoWarningOutsideTheWindowOrWhenTurnedOff) {
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(Write(40, 400), 30, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  EXPECT_TRUE(warnings->empty());
  warnings = CertificateExpiryWarnings(Write(5, 5), 0, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  EXPECT_TRUE(warnings->empty());
  // The window is configurable.
  warnings = CertificateExpiryWarnings(Write(40, 400), 60, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  EXPECT_EQ(warnings->size(), 1u);
}

TEST_F(CertificateExpiryTest, AnExpiredCertificateIsAnErrorNamingTheFileAndTheDate) {
  TlsFiles files = Write(-1, 400);
  absl::StatusOr<std::vector<std::string>> own = CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(absl::IsFailedPrecondition(own.status())) << own.status();
  EXPECT_TRUE(Contains(std::string(own.status().message()),
                       "certificate " + files.cert.string() + " expired on " + Expiry(files.cert)))
      << own.status();

  files = Write(400, -1);
  absl::StatusOr<std::vector<std::string>> ca = CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(absl::IsFailedPrecondition(ca.status())) << ca.status();
  EXPECT_TRUE(Contains(std::string(ca.status().message()), files.ca.string() + " expired on"))
      << ca.status();
}

TEST_F(CertificateExpiryTest, ACertificateNotValidYetIsAnError) {
  const TlsFiles files = TlsFiles::FromPkiDir(dir_.path(), "agent");
  test::WriteFile(files.ca, MakeCertificate("ca", -10, 400));
  test::WriteFile(files.cert, MakeCertificate("agent", 2, 400));
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(absl::IsFailedPrecondition(warnings.status())) << warnings.status();
  EXPECT_TRUE(Contains(std::string(warnings.status().message()), "is not valid before"));
}

TEST_F(CertificateExpiryTest, AFileThatIsNoCertificateIsRefused) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseCertificateValidity("x.crt", "-----BEGIN NONSENSE-----\n").status()));
}

// The key of the files a service reads (as ReadServerTlsFiles reads them): encrypted under a
// passphrase, mode 600.
TEST_F(CertificateExpiryTest, AnEncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  const TlsFiles files = Write(400, 400);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0,
                                          nullptr, const_cast<char*>("x")),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  test::WriteFile(files.key, std::string(data, static_cast<size_t>(size)));
  fs::permissions(files.key, fs::perms::owner_read | fs::perms::owner_write);
  absl::StatusOr<TlsPems> pems = ReadServerTlsFiles(files);
  ASSERT_FALSE(pems.ok());
  EXPECT_TRUE(Contains(std::string(pems.status().message()),
                       "the key file " + files.key.string() +
                           " is encrypted; koppel needs an unencrypted key (mode 600)"))
      << pems.status();
}

TEST_F(CertificateExpiryTest, AHalfWrittenCaBundleIsRefusedNamingTheFile) {
  const TlsFiles files = Write(400, 400);
  const std::string second = MakeCertificate("second-ca", -10, 400);
  test::WriteFile(files.ca, test::ReadFile(files.ca) + second.substr(0, second.size() / 2));
  test::WriteFile(files.key, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n");
  fs::permissions(files.key, fs::perms::owner_read | fs::perms::owner_write);
  absl::StatusOr<TlsPems> pems = ReadServerTlsFiles(files);
  ASSERT_FALSE(pems.ok());
  EXPECT_TRUE(Contains(std::string(pems.status().message()),
                       files.ca.string() + " holds 2 certificate blocks but only 1 could be read"))
      << pems.status();
}

TEST(RequireTls13Test, EveryNewOpenSslContextRefusesProtocolsBelowTls13) {
  ASSERT_TRUE(RequireTls13().ok()) << RequireTls13();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_method()),
                                                            &SSL_CTX_free);
  ASSERT_TRUE(context);
  // As gRPC does with every context it makes.
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  const uint64_t options = SSL_CTX_get_options(context.get());
  EXPECT_NE(options & SSL_OP_NO_TLSv1_2, 0u);
  EXPECT_NE(options & SSL_OP_NO_TLSv1_1, 0u);
  EXPECT_EQ(options & SSL_OP_NO_TLSv1_3, 0u);
}

// A service warns about the certificate it serves, which may differ from the file on disk
// (renewed there but refused on SIGHUP, or not reloaded yet).
TEST_F(CertificateExpiryTest, WarnsAboutTheServedCertificateNotTheFileOnDisk) {
  const TlsFiles files = Write(10, 400);
  TlsPems served;
  served.cert = test::ReadFile(files.cert);
  served.ca = test::ReadFile(files.ca);
  Write(400, 400);
  absl::StatusOr<std::vector<std::string>> on_disk =
      CertificateExpiryWarnings(files, 30, absl::Now());
  ASSERT_TRUE(on_disk.ok()) << on_disk.status();
  EXPECT_TRUE(on_disk->empty());
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(files, served, 30, absl::Now());
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  ASSERT_EQ(warnings->size(), 1u);
  EXPECT_TRUE(Contains(warnings->front(), "certificate " + files.cert.string() + " expires on"))
      << warnings->front();
}

TEST_F(CertificateExpiryTest, SerialIsPrintedAsOpensslPrintsIt) {
  const TlsFiles files = Write(10, 400);
  absl::StatusOr<std::string> serial = CertificateSerial(files.cert, test::ReadFile(files.cert));
  ASSERT_TRUE(serial.ok()) << serial.status();
  EXPECT_EQ(*serial, "01");
  EXPECT_FALSE(CertificateSerial(files.cert, "not a certificate").ok());
}

}  // namespace
}  // namespace koppel
