# Turns chat_page.html into a C++ header holding it as one raw string literal (kChatPage),
# so the page ships inside the nanomind binary. Run by the build: cmake -DIN=.. -DOUT=.. -P
file(READ "${IN}" page)
string(FIND "${page}" ")NMPAGE\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )NMPAGE\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from src/server/chat_page.html by embed_page.cmake; do not edit.\n#pragma once\nnamespace nm::server {\ninline constexpr char kChatPage[] = R\"NMPAGE(${page})NMPAGE\";\n}  // namespace nm::server\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
