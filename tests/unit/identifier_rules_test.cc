// The identifier rules every request passes before a service logs or audits it, and the
// escaping of untrusted text in service logs (issue #12, items 7 and 8).
#include "core/identifier_rules.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/log_safe.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "koppel/v1/vault.grpc.pb.h"

namespace koppel {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Every string and bytes field reachable from `message`, by full name.
void StringFields(const Descriptor* message, std::set<const Descriptor*>* seen,
                  std::set<std::string>* fields) {
  if (!seen->insert(message).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* field = message->field(i);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      StringFields(field->message_type(), seen, fields);
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      fields->insert(field->full_name());
    }
  }
}

TEST(IdentifierRulesTest, EveryFieldOfEveryRequestHasARule) {
  std::set<const Descriptor*> seen;
  std::set<std::string> fields;
  for (const google::protobuf::ServiceDescriptor* service :
       {v1::DeliverRequest::descriptor()->file()->FindServiceByName("LinkerService"),
        v1::GetDataKeyRequest::descriptor()->file()->FindServiceByName("VaultService")}) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      StringFields(service->method(i)->input_type(), &seen, &fields);
    }
  }
  StringFields(v1::BatchHeader::descriptor(), &seen, &fields);  // checked once the batch is open
  EXPECT_GT(fields.size(), 20u);
  for (const std::string& field : fields) EXPECT_TRUE(HasFieldRule(field)) << field;
}

TEST(IdentifierRulesTest, RefusesNamingFieldLengthAndRuleNeverTheContent) {
  v1::DeliverRequest request;
  request.mutable_batch()->set_batch_id(std::string(64, 'a'));
  request.mutable_batch()->set_dataset("brp");
  request.mutable_batch()->set_covenant_id("almelo-mpg");
  EXPECT_FALSE(CheckRequestFields(request).has_value());

  request.mutable_batch()->set_batch_id("FAKE\n" + std::string(59, 'a'));
  std::optional<FieldViolation> v = CheckRequestFields(request);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->field, "batch.batch_id");
  EXPECT_EQ(v->length, 64u);
  const std::string message(v->ToStatus().message());
  EXPECT_EQ(message,
            "request field batch.batch_id (64 bytes) breaks its rule: a batch id is 64 "
            "lower-case hex characters (the SHA-256 of the sealed payload)");
  EXPECT_EQ(v->ToStatus().code(), absl::StatusCode::kInvalidArgument);

  v1::AskFlagsRequest ask;
  ask.add_flags("known_at_jeugdzorg");
  ask.add_flags("Known At");
  v = CheckRequestFields(ask);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->field, "flags[1]");

  v1::EndCovenantRequest end;
  end.set_reason("finished\x1b[31m");
  v = CheckRequestFields(end);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->field, "reason");
  end.set_reason("het onderzoek is afgerond, \xc3\xa9\xc3\xa9n rapport");
  EXPECT_FALSE(CheckRequestFields(end).has_value());
  end.set_reason(std::string(1001, 'a'));
  EXPECT_TRUE(CheckRequestFields(end).has_value());

  v1::QueryRequest query;
  (*query.mutable_files())["prices.csv"] = "a,b\n";
  EXPECT_FALSE(CheckRequestFields(query).has_value());
  (*query.mutable_files())["prices\n.csv"] = "a,b\n";
  v = CheckRequestFields(query);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->field, "files.key");
}

TEST(IdentifierRulesTest, Names) {
  EXPECT_TRUE(IsName("agent-brp"));
  EXPECT_TRUE(IsName("a"));
  EXPECT_FALSE(IsName(""));
  EXPECT_FALSE(IsName("-agent"));
  EXPECT_FALSE(IsName("Agent"));
  EXPECT_FALSE(IsName(std::string(65, 'a')));
  EXPECT_TRUE(IsFieldName("Zorgvorm_2"));
  EXPECT_FALSE(IsFieldName("zorg vorm"));
}

TEST(LogSafeTest, DisplaySafeKeepsPrintableUtf8AndEscapesControls) {
  EXPECT_EQ(DisplaySafe("BSN cli\xc3\xabnt's \"nr\""), "BSN cli\xc3\xabnt's \"nr\"");
  EXPECT_EQ(DisplaySafe("start\x1b[31m"), "start\\x1b[31m");
  EXPECT_EQ(DisplaySafe("a\nb\rc\x7f"), "a\\nb\\rc\\x7f");
  EXPECT_EQ(DisplaySafe("\xc2\x85"), "\\xc2\\x85");                 // NEL, a C1 control
  EXPECT_EQ(DisplaySafe("x\xe2\x80\xaey"), "x\\xe2\\x80\\xaey");    // right-to-left override
  EXPECT_EQ(DisplaySafe("\xe2\x80\xa8"), "\\xe2\\x80\\xa8");        // line separator
  EXPECT_EQ(DisplaySafe("bsn\xe2\x80\x8b"), "bsn\\xe2\\x80\\x8b");  // zero-width space
  EXPECT_EQ(DisplaySafe("\xef\xbb\xbfx"), "\\xef\\xbb\\xbfx");      // a BOM inside text
  EXPECT_EQ(DisplaySafe("\xef\xbf\xbe"), "\\xef\\xbf\\xbe");        // U+FFFE
  EXPECT_EQ(DisplaySafe("\xff\xc3"), "\\xff\\xc3");                 // not UTF-8
  EXPECT_EQ(DisplaySafe("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");        // overlong
  const std::string long_text(5000, 'a');
  EXPECT_NE(DisplaySafe(long_text).find("(5000 bytes)"), std::string::npos);
}

TEST(LogSafeTest, NoSecondLineNoEscapeSequence) {
  const std::string forged = "x\nstored batch FAKE\r\x1b[31m\xff\\\"";
  const std::string safe = LogSafe(forged);
  EXPECT_EQ(safe, "x\\nstored batch FAKE\\r\\x1b[31m\\xff\\\\\\\"");
  for (char c : safe) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
  EXPECT_EQ(LogSafe("agent-brp"), "agent-brp");
  const std::string long_value(5000, 'a');
  EXPECT_EQ(LogSafe(long_value), std::string(1024, 'a') + "... (5000 bytes)");
  EXPECT_EQ(LogSafe(absl::InvalidArgumentError("bad\nline")), "bad\\nline");
}

}  // namespace
}  // namespace koppel
