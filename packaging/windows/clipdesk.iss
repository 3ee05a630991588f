; Inno Setup 6 script for ClipDesk (Windows). packaging/build.py runs it as
;   ISCC /DAppVersion=0.1.0 /DSourceDir=dist\ClipDesk /DOutputDir=dist /DIconFile=build\icons\clipdesk.ico clipdesk.iss
; Per-user install into %LOCALAPPDATA%\Programs\ClipDesk: no administrator rights needed
; (the user may still choose "install for all users" in the dialog, which asks for them).
; Signing: add SignTool=... here (Inno's [Setup] SignTool) once a code-signing certificate exists.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\ClipDesk"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\clipdesk.ico"
#endif

[Setup]
; AppId identifies the app for upgrades and the uninstaller: never change it.
AppId={{6C1D2E57-3F4B-4E0A-9B7C-2D8E5A1F0C44}
AppName=ClipDesk
AppVersion={#AppVersion}
AppVerName=ClipDesk {#AppVersion}
AppPublisher=ClipDesk
AppPublisherURL=https://github.com/clipdesk/clipdesk
DefaultDirName={autopf}\ClipDesk
DefaultGroupName=ClipDesk
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=ClipDesk-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\ClipDesk.exe
UninstallDisplayName=ClipDesk
Compression=lzma2/fast
SolidCompression=no
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\ClipDesk"; Filename: "{app}\ClipDesk.exe"; Comment: "Find photos by what they show"
Name: "{group}\Uninstall ClipDesk"; Filename: "{uninstallexe}"
Name: "{autodesktop}\ClipDesk"; Filename: "{app}\ClipDesk.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\ClipDesk.exe"; Description: "{cm:LaunchProgram,ClipDesk}"; Flags: nowait postinstall skipifsilent

; The library, settings, logs and downloaded models live in the user's profile
; (%LOCALAPPDATA%\ClipDesk, %USERPROFILE%\.cache\huggingface): the uninstaller leaves them,
; like the user's photos. Only files it installed are removed.
