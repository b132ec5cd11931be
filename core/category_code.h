// Category codes compared in any capitalisation (the mapping key `ignore_case`): exports of one
// holder write `Ambulant`, `AMBULANT` and ` ambulant `, and all three are the code `ambulant`.
#ifndef KOPPEL_CORE_CATEGORY_CODE_H_
#define KOPPEL_CORE_CATEGORY_CODE_H_

#include <string>
#include <string_view>

namespace koppel {

// The form two codes share when they differ only in capitalisation, Unicode compatibility form
// (a no-break space, a ligature, full-width letters) or blanks: Unicode NFKC case folding
// (ICU), then leading and trailing whitespace removed and inner runs of whitespace made one
// space. `code` is UTF-8; an ill-formed sequence folds to U+FFFD.
std::string FoldCategoryCode(std::string_view code);

}  // namespace koppel

#endif  // KOPPEL_CORE_CATEGORY_CODE_H_
