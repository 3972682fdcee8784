// ScopedUtf8Locale: runs libarchive calls of this thread in the C.UTF-8 locale (uselocale,
// per thread) so that member names are UTF-8 on both sides whatever the process locale is.
// In the default "C" locale libarchive cannot convert non-ASCII names to PAX's UTF-8 (it
// fails, or with archive_entry_set_pathname_utf8 even crashes in 3.6), and setlocale() would
// change every thread of the daemon.
//
// Thread safety: affects only the calling thread, until the scope ends.
#pragma once

#include <locale.h>

namespace sbx::archive {

class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (utf8 != static_cast<locale_t>(0)) previous_ = uselocale(utf8);
  }
  ~ScopedUtf8Locale() {
    if (previous_ != static_cast<locale_t>(0)) uselocale(previous_);
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(0);
};

}  // namespace sbx::archive
