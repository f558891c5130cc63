"""ClinicalTrials.gov's search vocabulary that topic lines and claim checks are checked against before anything is
sent: study types, the names AREA[...] accepts (its search areas and the field names of the v2 data model) and the
values its enum areas take. Data only."""

from __future__ import annotations

from ...vocabulary import PHASES, STATUSES

STUDY_TYPES = ("INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS")
ENUM_AREAS = {"Phase": PHASES, "StudyType": STUDY_TYPES, "OverallStatus": STATUSES, "LastKnownStatus": STATUSES}

# The search areas the API documents (query.cond -> ConditionSearch, query.term -> BasicSearch, ...), and every piece
# name of the v2 data model (GET /api/v2/studies/metadata, as recorded by AACT), which AREA[...] also accepts.
SEARCH_AREAS = frozenset({
    "BasicSearch", "ConditionSearch", "InterventionSearch", "OutcomeSearch", "TitleSearch", "SponsorSearch",
    "LocationSearch", "IdSearch", "PatientSearch", "EligibilitySearch", "AcronymSearch", "ObsoleteConditionSearch",
})
FIELD_NAMES = frozenset("""
    Acronym AdverseEventsModule AgreementOtherDetails AgreementPISponsorEmployee AgreementRestrictionType
    AgreementRestrictiveAgreement AnnotationModule AnnotationSection ArmGroup ArmGroupDescription
    ArmGroupInterventionName ArmGroupLabel ArmGroupType ArmsInterventionsModule AvailIPD AvailIPDComment AvailIPDId
    AvailIPDType AvailIPDURL BaselineCategory BaselineCategoryTitle BaselineCharacteristicsModule BaselineClass
    BaselineClassDenom BaselineClassDenomCount BaselineClassDenomCountGroupId BaselineClassDenomCountValue
    BaselineClassDenomUnits BaselineClassTitle BaselineDenom BaselineDenomCount BaselineDenomCountGroupId
    BaselineDenomCountValue BaselineDenomUnits BaselineGroup BaselineGroupDescription BaselineGroupId
    BaselineGroupTitle BaselineMeasure BaselineMeasureCalculatePct BaselineMeasureDenom BaselineMeasureDenomCount
    BaselineMeasureDenomCountGroupId BaselineMeasureDenomCountValue BaselineMeasureDenomUnits
    BaselineMeasureDenomUnitsSelected BaselineMeasureDescription BaselineMeasureDispersionType
    BaselineMeasureParamType BaselineMeasurePopulationDescription BaselineMeasureTitle BaselineMeasureUnitOfMeasure
    BaselineMeasurement BaselineMeasurementComment BaselineMeasurementGroupId BaselineMeasurementLowerLimit
    BaselineMeasurementSpread BaselineMeasurementUpperLimit BaselineMeasurementValue BaselinePopulationDescription
    BaselineTypeUnitsAnalyzed BioSpec BioSpecDescription BioSpecRetention BriefSummary BriefTitle CentralContact
    CentralContactEMail CentralContactName CentralContactPhone CentralContactPhoneExt CentralContactRole
    CertainAgreement Collaborator CollaboratorClass CollaboratorName CompletionDate CompletionDateStruct
    CompletionDateType Condition ConditionAncestor ConditionAncestorId ConditionAncestorTerm ConditionBrowseBranch
    ConditionBrowseBranchAbbrev ConditionBrowseBranchName ConditionBrowseLeaf ConditionBrowseLeafAsFound
    ConditionBrowseLeafId ConditionBrowseLeafName ConditionBrowseLeafRelevance ConditionBrowseModule ConditionMesh
    ConditionMeshId ConditionMeshTerm ConditionsModule ContactsLocationsModule DelayedPosting DerivedSection
    DescriptionModule DesignAllocation DesignInfo DesignInterventionModel DesignInterventionModelDescription
    DesignMasking DesignMaskingDescription DesignMaskingInfo DesignModule DesignObservationalModel
    DesignPrimaryPurpose DesignTimePerspective DesignWhoMasked DetailedDescription DispFirstPostDate
    DispFirstPostDateStruct DispFirstPostDateType DispFirstSubmitDate DispFirstSubmitQCDate DocumentSection
    EligibilityCriteria EligibilityModule EnrollmentCount EnrollmentInfo EnrollmentType
    EstimatedResultsFirstSubmitDate EventGroup EventGroupDeathsNumAffected EventGroupDeathsNumAtRisk
    EventGroupDescription EventGroupId EventGroupOtherNumAffected EventGroupOtherNumAtRisk
    EventGroupSeriousNumAffected EventGroupSeriousNumAtRisk EventGroupTitle EventsAllCauseMortalityComment
    EventsDescription EventsFrequencyThreshold EventsTimeFrame ExpAccTypeIndividual ExpAccTypeIntermediate
    ExpAccTypeTreatment ExpandedAccessInfo ExpandedAccessNCTId ExpandedAccessStatusForNCTId ExpandedAccessTypes
    FDAAA801Violation FirstMCPInfo FirstMCPPostDate FirstMCPPostDateStruct FirstMCPPostDateType FlowAchievement
    FlowAchievementComment FlowAchievementGroupId FlowAchievementNumSubjects FlowAchievementNumUnits
    FlowDropWithdraw FlowDropWithdrawComment FlowDropWithdrawType FlowGroup FlowGroupDescription FlowGroupId
    FlowGroupTitle FlowMilestone FlowMilestoneComment FlowMilestoneType FlowPeriod FlowPeriodTitle
    FlowPreAssignmentDetails FlowReason FlowReasonComment FlowReasonGroupId FlowReasonNumSubjects
    FlowRecruitmentDetails FlowTypeUnitsAnalyzed GenderBased GenderDescription HasExpandedAccess HasResults
    HealthyVolunteers IPDSharing IPDSharingAccessCriteria IPDSharingDescription IPDSharingInfoType
    IPDSharingStatementModule IPDSharingTimeFrame IPDSharingURL IdentificationModule Intervention
    InterventionAncestor InterventionAncestorId InterventionAncestorTerm InterventionArmGroupLabel
    InterventionBrowseBranch InterventionBrowseBranchAbbrev InterventionBrowseBranchName InterventionBrowseLeaf
    InterventionBrowseLeafAsFound InterventionBrowseLeafId InterventionBrowseLeafName
    InterventionBrowseLeafRelevance InterventionBrowseModule InterventionDescription InterventionMesh
    InterventionMeshId InterventionMeshTerm InterventionName InterventionOtherName InterventionType
    IsFDARegulatedDevice IsFDARegulatedDrug IsPPSD IsUSExport IsUnapprovedDevice Keyword LargeDoc LargeDocDate
    LargeDocFilename LargeDocHasICF LargeDocHasProtocol LargeDocHasSAP LargeDocLabel LargeDocNoSAP LargeDocSize
    LargeDocTypeAbbrev LargeDocUploadDate LargeDocumentModule LastKnownStatus LastUpdatePostDate
    LastUpdatePostDateStruct LastUpdatePostDateType LastUpdateSubmitDate LeadSponsor LeadSponsorClass
    LeadSponsorName LimitationsAndCaveats LimitationsAndCaveatsDescription Location LocationCity LocationContact
    LocationContactEMail LocationContactName LocationContactPhone LocationContactPhoneExt LocationContactRole
    LocationCountry LocationFacility LocationGeoPoint LocationState LocationStatus LocationZip MaximumAge MinimumAge
    MiscInfoModule MoreInfoModule NCTId NCTIdAlias NPtrsToThisExpAccNCTId OfficialTitle OrgClass OrgFullName
    OrgStudyId OrgStudyIdInfo OrgStudyIdLink OrgStudyIdType Organization OtherEvent OtherEventAssessmentType
    OtherEventNotes OtherEventOrganSystem OtherEventSourceVocabulary OtherEventStats OtherEventStatsGroupId
    OtherEventStatsNumAffected OtherEventStatsNumAtRisk OtherEventStatsNumEvents OtherEventTerm OtherOutcome
    OtherOutcomeDescription OtherOutcomeMeasure OtherOutcomeTimeFrame OutcomeAnalysis OutcomeAnalysisCILowerLimit
    OutcomeAnalysisCILowerLimitComment OutcomeAnalysisCINumSides OutcomeAnalysisCIPctValue
    OutcomeAnalysisCIUpperLimit OutcomeAnalysisCIUpperLimitComment OutcomeAnalysisDispersionType
    OutcomeAnalysisDispersionValue OutcomeAnalysisEstimateComment OutcomeAnalysisGroupDescription
    OutcomeAnalysisGroupId OutcomeAnalysisNonInferiorityComment OutcomeAnalysisNonInferiorityType
    OutcomeAnalysisOtherAnalysisDescription OutcomeAnalysisPValue OutcomeAnalysisPValueComment
    OutcomeAnalysisParamType OutcomeAnalysisParamValue OutcomeAnalysisStatisticalComment
    OutcomeAnalysisStatisticalMethod OutcomeAnalysisTestedNonInferiority OutcomeCategory OutcomeCategoryTitle
    OutcomeClass OutcomeClassDenom OutcomeClassDenomCount OutcomeClassDenomCountGroupId OutcomeClassDenomCountValue
    OutcomeClassDenomUnits OutcomeClassTitle OutcomeDenom OutcomeDenomCount OutcomeDenomCountGroupId
    OutcomeDenomCountValue OutcomeDenomUnits OutcomeGroup OutcomeGroupDescription OutcomeGroupId OutcomeGroupTitle
    OutcomeMeasure OutcomeMeasureAnticipatedPostingDate OutcomeMeasureCalculatePct OutcomeMeasureDenomUnitsSelected
    OutcomeMeasureDescription OutcomeMeasureDispersionType OutcomeMeasureParamType
    OutcomeMeasurePopulationDescription OutcomeMeasureReportingStatus OutcomeMeasureTimeFrame OutcomeMeasureTitle
    OutcomeMeasureType OutcomeMeasureTypeUnitsAnalyzed OutcomeMeasureUnitOfMeasure OutcomeMeasurement
    OutcomeMeasurementComment OutcomeMeasurementGroupId OutcomeMeasurementLowerLimit OutcomeMeasurementSpread
    OutcomeMeasurementUpperLimit OutcomeMeasurementValue OutcomeMeasuresModule OutcomesModule OverallOfficial
    OverallOfficialAffiliation OverallOfficialName OverallOfficialRole OverallStatus OversightHasDMC OversightModule
    ParticipantFlowModule PatientRegistry Phase PointOfContact PointOfContactEMail PointOfContactOrganization
    PointOfContactPhone PointOfContactPhoneExt PointOfContactTitle PrimaryCompletionDate PrimaryCompletionDateStruct
    PrimaryCompletionDateType PrimaryOutcome PrimaryOutcomeDescription PrimaryOutcomeMeasure PrimaryOutcomeTimeFrame
    ProtocolSection Reference ReferenceCitation ReferencePMID ReferenceType ReferencesModule RemovedCountry
    ResponsibleParty ResponsiblePartyInvestigatorAffiliation ResponsiblePartyInvestigatorFullName
    ResponsiblePartyInvestigatorTitle ResponsiblePartyOldNameTitle ResponsiblePartyOldOrganization
    ResponsiblePartyType ResultsFirstPostDate ResultsFirstPostDateStruct ResultsFirstPostDateType
    ResultsFirstSubmitDate ResultsFirstSubmitQCDate ResultsSection ResultsWaived Retraction RetractionPMID
    RetractionSource SamplingMethod SecondaryId SecondaryIdDomain SecondaryIdInfo SecondaryIdLink SecondaryIdType
    SecondaryOutcome SecondaryOutcomeDescription SecondaryOutcomeMeasure SecondaryOutcomeTimeFrame SeeAlsoLink
    SeeAlsoLinkLabel SeeAlsoLinkURL SeriousEvent SeriousEventAssessmentType SeriousEventNotes
    SeriousEventOrganSystem SeriousEventSourceVocabulary SeriousEventStats SeriousEventStatsGroupId
    SeriousEventStatsNumAffected SeriousEventStatsNumAtRisk SeriousEventStatsNumEvents SeriousEventTerm Sex
    SponsorCollaboratorsModule StartDate StartDateStruct StartDateType StatusModule StatusVerifiedDate StdAge
    StudyFirstPostDate StudyFirstPostDateStruct StudyFirstPostDateType StudyFirstSubmitDate StudyFirstSubmitQCDate
    StudyPopulation StudyType SubmissionInfo SubmissionMCPReleaseN SubmissionReleaseDate SubmissionResetDate
    SubmissionTracking SubmissionUnreleaseDate SubmissionUnreleaseDateUnknown TargetDuration UnpostedAnnotation
    UnpostedEvent UnpostedEventDate UnpostedEventDateUnknown UnpostedEventType UnpostedResponsibleParty
    VersionHolder ViolationAnnotation ViolationEvent ViolationEventCreationDate ViolationEventDescription
    ViolationEventIssuedDate ViolationEventPostedDate ViolationEventReleaseDate ViolationEventType WhyStopped
""".split())
AREA_NAMES = SEARCH_AREAS | FIELD_NAMES
