# Run by `cmake --install` and cpack (packaging/CMakeLists.txt sets PUSHGATE_* first):
# installs the systemd unit with this installation's paths, and the example env file unless
# one is already there (an administrator's edits survive a re-install; the .deb marks it a
# conffile instead). DESTDIR is honoured by file(INSTALL).
string(REGEX REPLACE "(.)/+$" "\\1" prefix "${CMAKE_INSTALL_PREFIX}")
# GNUInstallDirs' rule for the configuration directory, evaluated for this prefix
if(IS_ABSOLUTE "${PUSHGATE_SYSCONFDIR}")
  set(etc "${PUSHGATE_SYSCONFDIR}")
elseif(prefix STREQUAL "/usr" AND PUSHGATE_SYSCONFDIR STREQUAL "etc")
  set(etc "/etc")
else()
  set(etc "${prefix}/${PUSHGATE_SYSCONFDIR}")
endif()

# a GNUInstallDirs directory may be given relative (to the prefix) or absolute
foreach(dir BINDIR DOCDIR UNITDIR)
  if(IS_ABSOLUTE "${PUSHGATE_${dir}}")
    set(${dir} "${PUSHGATE_${dir}}")
  else()
    set(${dir} "${prefix}/${PUSHGATE_${dir}}")
  endif()
endforeach()

file(READ "${PUSHGATE_PACKAGING}/pushgated.service" unit)
string(REPLACE "/usr/bin/pushgated" "${BINDIR}/pushgated" unit "${unit}")
string(REPLACE "/usr/share/doc/pushgate/" "${DOCDIR}/" unit "${unit}")
string(REPLACE "/etc/pushgate/" "${etc}/pushgate/" unit "${unit}")
# one work file per destination: installs from one build tree to two places may overlap
string(MD5 tag "$ENV{DESTDIR}|${prefix}")
set(work "${PUSHGATE_WORKDIR}/${tag}")
file(WRITE "${work}/pushgated.service" "${unit}")
file(INSTALL "${work}/pushgated.service" DESTINATION "${UNITDIR}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

if(EXISTS "$ENV{DESTDIR}${etc}/pushgate/pushgated.env")
  message(STATUS "Keeping: $ENV{DESTDIR}${etc}/pushgate/pushgated.env")
else()
  file(INSTALL "${PUSHGATE_PACKAGING}/pushgated.env" DESTINATION "${etc}/pushgate"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endif()
