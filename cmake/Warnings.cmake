# Project warning set (STYLE.md §13). -Werror is on unless HERALD_WERROR=OFF.
function(herald_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wformat=2
    -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-unused-parameter)
  if(HERALD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
