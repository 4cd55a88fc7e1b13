# HERALD_SANITIZE: ASan + UBSan for everything, failing hard on the first report.
if(HERALD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(HERALD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HERALD_FUZZ needs clang: CC=clang cmake -DHERALD_FUZZ=ON")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -g)
  # Objects carry ASan/UBSan instrumentation, so every link needs the runtimes
  # (fuzz targets add -fsanitize=fuzzer on top).
  add_link_options(-fsanitize=address,undefined)
endif()
# HERALD_TSAN: ThreadSanitizer, for the notifier's event-loop threads
# (scripts/tsan.sh runs the loop tests under it).
if(HERALD_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=thread)
endif()
