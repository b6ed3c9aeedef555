# Proves that libwhisper_vram_core.a is pure: none of its objects calls into the OS (files,
# environment, clocks, processes, threads, dynamic loading, the terminal), and it needs no symbol of
# the edge library (dependencies point down only). Run as
#   cmake -DARCHIVE=.../libwhisper_vram_core.a -DNM=nm -P core_purity.cmake
if(NOT EXISTS "${ARCHIVE}")
  message(FATAL_ERROR "core archive '${ARCHIVE}' does not exist")
endif()
get_filename_component(archive_name "${ARCHIVE}" NAME)
if(NOT archive_name STREQUAL "libwhisper_vram_core.a")
  message(FATAL_ERROR "the core archive is named '${archive_name}', not libwhisper_vram_core.a")
endif()
execute_process(COMMAND ${NM} -u -C "${ARCHIVE}" OUTPUT_VARIABLE undefined RESULT_VARIABLE nm_status)
execute_process(COMMAND ${NM} --defined-only -C "${ARCHIVE}" OUTPUT_VARIABLE defined)
if(NOT nm_status EQUAL 0)
  message(FATAL_ERROR "nm failed on ${ARCHIVE}")
endif()
string(LENGTH "${undefined}" undefined_length)
if(undefined_length LESS 100)
  message(FATAL_ERROR "nm listed almost nothing for ${ARCHIVE}: is it the right file?")
endif()

# Symbols (C names, or demangled C++ names as a regex) that mean the OS is used.
set(forbidden
  "^(open|open64|openat|openat64|fopen|fopen64|creat|read|write|pread|pwrite|close|unlink|rename|mkdir|stat|fstat|lstat|access)$"
  "^(getenv|secure_getenv|setenv|putenv|environ)$"
  "^(flock|fcntl|lockf)$"
  "^(fork|vfork|execv|execve|execvp|posix_spawn|posix_spawnp|waitpid|kill|getpid|getppid|getuid|signal|sigaction)$"
  "^(clock_gettime|gettimeofday|time|nanosleep|usleep|sleep)$"
  "^(dlopen|dlsym|dlclose|dlerror)$"
  "^(pthread_create|pthread_mutex_lock|pthread_join)$"
  "^(stdout|stderr|stdin|puts|printf|fwrite|fputs|fputc|putchar|perror)$"
  "std::chrono::.*clock::now"
  "std::thread"
  "std::this_thread"
  "std::filesystem"
  "std::basic_[io]?fstream"
  "std::basic_filebuf"
  "std::cout|std::cerr|std::clog|std::cin"
  "fmt::v[0-9]+::vprint")

set(violations "")
string(REPLACE "\n" ";" undefined_lines "${undefined}")
foreach(line IN LISTS undefined_lines)
  string(REGEX REPLACE "^ *U +" "" symbol "${line}")
  string(REGEX REPLACE "@.*$" "" symbol "${symbol}")
  if(symbol STREQUAL "" OR symbol MATCHES ":$")
    continue()
  endif()
  foreach(pattern IN LISTS forbidden)
    if(symbol MATCHES "${pattern}")
      list(APPEND violations "${symbol}")
    endif()
  endforeach()
  # A whisper_vram symbol the core uses must be defined in the core itself.
  if(symbol MATCHES "^whisper_vram::" OR symbol MATCHES "[ (]whisper_vram::")
    string(FIND "${defined}" " ${symbol}\n" at)
    if(at EQUAL -1)
      list(APPEND violations "${symbol} (defined outside the core)")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES violations)
if(violations)
  list(JOIN violations "\n  " listed)
  message(FATAL_ERROR "libwhisper_vram_core.a is not pure; it uses:\n  ${listed}")
endif()
message(STATUS "libwhisper_vram_core.a is pure: no OS call and no edge symbol among its undefined symbols")
