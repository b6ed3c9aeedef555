# Installs the build into a fresh prefix and builds + runs tests/install_consumer against it.
file(REMOVE_RECURSE ${WORK_DIR})
# Only the default component: the Python package installs into the interpreter's own site dir.
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix --component Unspecified
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install_consumer -B ${WORK_DIR}/consumer
                        -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer with find_package(whisper_vram) failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT out STREQUAL "4.21875 5.0625\n")
  message(FATAL_ERROR "consumer printed '${out}' (exit ${rc}), expected '4.21875 5.0625'")
endif()
if(NOT EXISTS ${WORK_DIR}/prefix/bin/whisper-vram)
  message(FATAL_ERROR "whisper-vram was not installed")
endif()
message(STATUS "installed package OK: ${out}")
