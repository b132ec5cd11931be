// Typed attribute values: turns the text of one export cell into the Value a batch carries,
// following the attribute's mapping (docs/agent.md), or names the reason it cannot.
#ifndef KOPPEL_CORE_ATTRIBUTE_VALUE_H_
#define KOPPEL_CORE_ATTRIBUTE_VALUE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/mapping.h"
#include "core/reject_reason.h"
#include "koppel/v1/batch.pb.h"

namespace koppel {

class AttributeParser {
 public:
  explicit AttributeParser(const AttributeSpec& spec);

  // `text` is the cell with surrounding blanks removed and must not be empty. On success sets
  // `out` and returns kNone; otherwise returns the type's reason and leaves `out` unset.
  RejectReason Parse(std::string_view text, v1::Value* out) const;

  const AttributeSpec& spec() const { return *spec_; }

 private:
  RejectReason ParseInteger(std::string_view text, v1::Value* out) const;
  RejectReason ParseAmount(std::string_view text, v1::Value* out) const;

  const AttributeSpec* spec_;
  // export code (folded with ignore_case) -> index of its canonical code in the sorted schema
  // codes
  std::map<std::string, uint32_t, std::less<>> code_index_;
};

// Removes leading and trailing spaces and tabs.
std::string_view TrimBlanks(std::string_view s);

}  // namespace koppel

#endif  // KOPPEL_CORE_ATTRIBUTE_VALUE_H_
