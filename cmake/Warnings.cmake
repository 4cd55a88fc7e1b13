# Project warning set (STYLE.md §13). -Werror is on unless HERALD_WERROR=OFF.
function(herald_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wformat=2
    -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-unused-parameter)
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    # gcc's -O2 truncation guesses flag every bounded snprintf whose result we
    # already check; truncation is handled at each call site instead.
    target_compile_options(${target} PRIVATE -Wno-format-truncation)
  endif()
  if(HERALD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
