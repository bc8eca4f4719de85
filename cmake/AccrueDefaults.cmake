# Build defaults shared by every Accrue target: ccache, warnings, sanitizers.

find_program(ACCRUE_CCACHE ccache)
if(ACCRUE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER "${ACCRUE_CCACHE}")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${ACCRUE_CCACHE}")
endif()

if(ACCRUE_SANITIZE)
  # Applied globally so that generated code, tests and libraries agree on the ABI of the
  # instrumented standard containers.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(ACCRUE_TSAN)
  # -Wno-tsan: Boost.Asio's reference counts use std::atomic_thread_fence, which TSan does not
  # model (GCC warns at every use); a race it hides there would show as a report in Asio.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()

# accrue_target_defaults(<target>): warnings for code we own (not for generated code).
function(accrue_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                         -Wno-sign-conversion -Wnon-virtual-dtor -Wimplicit-fallthrough)
  if(ACCRUE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
